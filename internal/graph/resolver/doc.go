// Package resolver implements graph.SchemaResolver: it tells the compiler the
// plural resource, the scope and the OpenAPI v3 schema (every $ref inlined) of
// a kind.
//
// Static serves the built-in kinds of Kubernetes from an embedded snapshot of a
// real kube-apiserver's discovery and OpenAPI v3 documents, plus the kinds of
// CustomResourceDefinitions given to it (objects or YAML files). It needs no
// API server and is meant for unit tests and offline validation.
//
// Live asks an API server (discovery and /openapi/v3) and caches the answer per
// kind until it is invalidated; CRDEventHandler, added to a
// CustomResourceDefinition informer, keeps it in step with the
// CustomResourceDefinitions of the cluster.
//
// The snapshot (builtin/openapi.json.gz, generally available APIs only, no
// descriptions) is regenerated from the test control plane with
//
//	go run ./hack/snapshot-openapi -assets bin/k8s/v1.37.1 -out internal/graph/resolver/builtin/openapi.json.gz
//
// and TestBuiltinSnapshotMatchesAPIServer checks it against that API server.
//
// Resolved schemas are shared between callers and must be treated as read-only.
package resolver
