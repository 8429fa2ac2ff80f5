#!/usr/bin/env bash
# Tries the four known routes around korvid's trust boundary on a running
# local cluster (`make run`), as the user "mallory" who may manage only RGDs,
# ConfigMaps and the generated kinds. Every route must be refused with the
# field path and the kind, and a pre-existing ConfigMap must survive
# untouched. Exits non-zero on the first route that gets through.
#
#   export KUBECONFIG=$PWD/bin/local/kubeconfig PATH=$PWD/bin/k8s/v1.37.1:$PATH
#   hack/try/trust-boundary.sh
set -euo pipefail

as=(--as=mallory --as-group=system:authenticated)
ns=trust-try
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_refused() { # name, fragments...
  local name=$1; shift
  local out
  if out=$(kubectl "${as[@]}" apply -f - 2>&1 <"$tmp"); then
    fail "$name was admitted: $out"
  fi
  for f in "$@"; do
    grep -qF -- "$f" <<<"$out" || fail "$name: the denial does not name '$f': $out"
  done
  echo "refused: $name"
  echo "$out" | sed 's/^/    /'
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: trust-try-mallory}
rules:
- {apiGroups: [kro.run], resources: ["*"], verbs: ["*"]}
- {apiGroups: [""], resources: [configmaps], verbs: ["*"]}
- {apiGroups: [""], resources: [namespaces], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: trust-try-mallory}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: trust-try-mallory}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: mallory}]
---
apiVersion: v1
kind: Namespace
metadata: {name: $ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: precious, namespace: $ns}
data: {owner: platform}
---
apiVersion: v1
kind: Secret
metadata: {name: root-credentials, namespace: kube-system}
stringData: {password: hunter2}
YAML
[ "$(kubectl auth can-i get secrets -n kube-system "${as[@]}" || true)" = no ] || fail "mallory may read Secrets in kube-system; the scenario needs a user who cannot"

# 1. API hijack.
cat >"$tmp" <<'YAML'
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: hijack}
spec:
  schema:
    apiVersion: v1
    kind: Ingress
    group: networking.k8s.io
    metadata: {annotations: {api-approved.kubernetes.io: "https://github.com/kubernetes/kubernetes/pull/1"}}
    spec: {host: string}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}"}}
YAML
expect_refused "1. API hijack" "spec.schema.group" "kind Ingress of group networking.k8s.io" "api-approved.kubernetes.io"
kubectl get crd ingresses.networking.k8s.io >/dev/null 2>&1 && fail "a shadow CRD for Ingress exists"

# 2. Laundering through a nested RGD.
cat >"$tmp" <<'YAML'
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: launder}
spec:
  schema: {apiVersion: v1alpha1, kind: Launder, spec: {team: string}}
  resources:
  - id: inner
    template:
      apiVersion: kro.run/v1alpha1
      kind: ResourceGraphDefinition
      metadata: {name: "${schema.spec.team}-takeover"}
      spec:
        schema: {apiVersion: v1alpha1, kind: Takeover, spec: {x: string}}
        resources:
        - id: deploy
          template:
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: miner, namespace: kube-system}
            spec:
              selector: {matchLabels: {app: miner}}
              template:
                metadata: {labels: {app: miner}}
                spec: {containers: [{name: c, image: xmrig}]}
YAML
expect_refused "2. nested RGD" "spec.resources[0].template.kind" "ResourceGraphDefinition of group kro.run is a meta-kind"

# 4. Reading around RBAC.
cat >"$tmp" <<'YAML'
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: loot}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Loot
    spec: {x: string}
    status: {loot: "${ref.data}"}
  resources:
  - id: ref
    externalRef:
      apiVersion: v1
      kind: Secret
      metadata: {name: root-credentials, namespace: kube-system}
YAML
expect_refused "4. externalRef to a Secret" "spec.resources[0].externalRef.kind" "may not get secrets root-credentials (kind Secret)"

# 3. Silent adoption and deletion.
before=$(kubectl get configmap precious -n "$ns" -o jsonpath='{.metadata.resourceVersion}')
kubectl "${as[@]}" apply -f - >/dev/null <<'YAML'
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: grabbers}
spec:
  schema: {apiVersion: v1alpha1, kind: Grabber, spec: {target: string}}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.target}"}
      data: {owner: mallory}
YAML
kubectl wait --for=jsonpath='{.status.state}'=Active rgd/grabbers --timeout=60s >/dev/null
for i in $(seq 1 30); do
  kubectl "${as[@]}" apply -f - >/dev/null 2>&1 <<YAML && break
apiVersion: kro.run/v1alpha1
kind: Grabber
metadata: {name: grab, namespace: $ns}
spec: {target: precious}
YAML
  sleep 1
done
kubectl wait --for=jsonpath='{.status.state}'=ERROR "grabber/grab" -n "$ns" --timeout=60s >/dev/null
echo "refused: 3. adoption"
kubectl get grabber grab -n "$ns" -o jsonpath='{range .status.conditions[?(@.type=="ResourcesReady")]}    {.reason}: {.message}{"\n"}{end}'
kubectl "${as[@]}" delete grabber grab -n "$ns" --wait=true --timeout=60s >/dev/null
after=$(kubectl get configmap precious -n "$ns" -o jsonpath='{.metadata.resourceVersion}')
[ "$before" = "$after" ] || fail "the pre-existing ConfigMap was written (resourceVersion $before -> $after)"
echo "the pre-existing ConfigMap survived untouched (resourceVersion $after)"

kubectl delete rgd grabbers --wait=false >/dev/null
kubectl delete namespace "$ns" --wait=false >/dev/null
kubectl delete clusterrolebinding,clusterrole trust-try-mallory >/dev/null
kubectl delete secret root-credentials -n kube-system >/dev/null
echo "all four routes refused"
