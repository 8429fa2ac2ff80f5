// Package admission is korvid's admission webhook: it rejects a bad
// ResourceGraphDefinition or instance at `kubectl apply`, with every error and
// its field path, instead of letting it surface later as a status condition.
//
// RGDs are compiled with the same compiler and options as the controller
// (graph.Compile); breaking schema updates, kinds already served by something
// else, templated kinds the author may not manage (SubjectAccessReview) and
// kinds forbidden by policy are denied, and legal but risky constructs produce
// warnings. Instances of the generated kinds are checked against the compiled
// graph (internal/registry caches it by RGD UID and generation): what the
// instance spec alone determines (includeWhen, collection sizes, names,
// namespaces and literal template fields) is evaluated and validated against
// the target kinds' schemas. internal/webhookrules keeps the rules of the
// instance webhook configurations equal to the generated kinds.
//
// Setup wires everything into a controller-runtime manager; cmd/webhook and
// the envtest suites both call it.
package admission
