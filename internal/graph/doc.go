// Package graph is korvid's compiler: it turns a ResourceGraphDefinition into
// an immutable, type-checked graph (the instance CRD, typed CEL programs, the
// dependency DAG and its topological order) and evaluates that graph against
// an instance and the objects observed so far.
//
// The package is pure: it imports neither controller-runtime nor a client. The
// admission webhook and the controller call Compile with the same Options, so
// the webhook never accepts what the controller would reject.
package graph
