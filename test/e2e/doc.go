// Package e2e tests korvid as it is installed: it renders
// deploy/kustomize/default, applies it to a real API server, lets
// cert-manager's CA injector fill the webhook configurations' caBundle, runs
// the webhook and controller binaries with the Deployments' flags and checks
// that admission and reconciliation work through the API server.
package e2e
