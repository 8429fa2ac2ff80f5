#!/usr/bin/env bash
# Tries the three ways instances used to be stranded, on a running local
# cluster (`make run`):
#
#  1. the controller restarts while the RGD's newest revision does not
#     compile (its child kind's CRD was removed): an instance is deleted
#     all the same;
#  2. the webhook process is stopped: an instance is deleted, a ConfigMap is
#     created, an RGD write fails closed with a clear message; once the
#     webhook is back, RGD writes go through again;
#  3. `kubectl delete -f` of a folder holding an RGD and its instances:
#     everything goes, nothing hangs.
#
# Exits non-zero on the first step that does not behave so.
#
#   export KUBECONFIG=$PWD/bin/local/kubeconfig PATH=$PWD/bin/k8s/v1.37.1:$PATH
#   hack/try/reliability.sh            # finds make run's process by name
#   RUN_LOCAL_PID=1234 hack/try/reliability.sh
set -euo pipefail

pid=${RUN_LOCAL_PID:-$(pgrep -f 'bin/run-local ' | head -1 || true)}
[ -n "$pid" ] || { echo "make run is not running (or set RUN_LOCAL_PID)" >&2; exit 1; }
ns=reliability-try
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
timed() { # label, command...: runs the command and prints how long it took
  local label=$1; shift
  local start=$EPOCHREALTIME
  "$@" || fail "$label"
  awk -v l="$label" -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "ok: %s (%.2f s)\n", l, e - s }'
}
wait_active() { # kind name
  kubectl wait -n "$ns" "$1/$2" --for=jsonpath='{.status.state}'=ACTIVE --timeout=60s >/dev/null
}
rgd() { # name kind field type default data, more resources on stdin: an RGD
  # whose instances have one field and a ConfigMap <instance>-config holding data
  cat <<YAML
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: $1}
spec:
  schema:
    apiVersion: v1alpha1
    kind: $2
    spec: {$3: $4 | default=$5}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "\${schema.metadata.name}-config"}
      data: {$3: "$6"}
YAML
  cat
}
webhook_serving() { # true once an RGD dry-run is answered by the webhook
  for _ in $(seq 60); do
    if kubectl apply --dry-run=server -f "$dir/rgd.yaml" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# 1. A restart while the newest revision does not compile.
cat >"$dir/gadget-crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.try.example.com}
spec:
  group: try.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, listKind: GadgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
YAML
rgd reltry-gadgets RelTryGadget size integer 1 '${string(schema.spec.size)}' >"$dir/gadget-rgd.yaml" <<'YAML'
  - id: gadget
    template:
      apiVersion: try.example.com/v1
      kind: Gadget
      metadata: {name: "${schema.metadata.name}"}
      spec: {size: "${schema.spec.size}"}
YAML
kubectl apply -f "$dir/gadget-crd.yaml" >/dev/null
kubectl wait crd/gadgets.try.example.com --for=condition=Established --timeout=30s >/dev/null
# The API server publishes a new CRD's schema a moment after it is
# Established; until then the webhook answers "unknown kind".
for _ in $(seq 30); do
  kubectl apply -f "$dir/gadget-rgd.yaml" >/dev/null 2>&1 && break
  sleep 1
done
kubectl wait rgd/reltry-gadgets --for=jsonpath='{.status.state}'=Active --timeout=60s >/dev/null
kubectl apply -n "$ns" -f - >/dev/null <<'YAML'
apiVersion: kro.run/v1alpha1
kind: RelTryGadget
metadata: {name: one}
YAML
wait_active reltrygadget one
kubectl delete crd gadgets.try.example.com --wait=true >/dev/null
kill -HUP "$pid"
sleep 2
timed "1. instance deleted after a restart with a broken newest revision" \
  kubectl delete -n "$ns" reltrygadget one --timeout=60s
kubectl get -n "$ns" configmap one-config >/dev/null 2>&1 && fail "1. the instance's ConfigMap was left behind"
kubectl delete rgd reltry-gadgets --timeout=60s >/dev/null

# 2. The webhook stopped.
rgd reltry RelTry greeting string hello '${schema.spec.greeting}' >"$dir/rgd.yaml" </dev/null
for i in a b; do
  cat >"$dir/instance-$i.yaml" <<YAML
apiVersion: kro.run/v1alpha1
kind: RelTry
metadata: {name: $i, namespace: $ns}
YAML
done
kubectl apply -f "$dir/rgd.yaml" >/dev/null
kubectl wait rgd/reltry --for=jsonpath='{.status.state}'=Active --timeout=60s >/dev/null
kubectl wait crd/reltries.kro.run --for=condition=Established --timeout=30s >/dev/null
kubectl apply -f "$dir/instance-a.yaml" -f "$dir/instance-b.yaml" >/dev/null
wait_active reltry a
wait_active reltry b
kill -USR1 "$pid"
sleep 2
if out=$(kubectl apply -f "$dir/gadget-rgd.yaml" 2>&1); then
  fail "2. an RGD was admitted with the webhook stopped: $out"
fi
grep -q 'failed calling webhook' <<<"$out" || fail "2. the RGD write failed without naming the webhook: $out"
echo "ok: 2. RGD write fails closed: $out"
timed "2. ConfigMap created with the webhook stopped" \
  kubectl create -n "$ns" configmap during-outage --from-literal=k=v
timed "2. instance deleted with the webhook stopped" \
  kubectl delete -n "$ns" reltry a --timeout=60s
kill -USR1 "$pid"
timed "2. webhook serving again" webhook_serving
kubectl patch -n "$ns" reltry b --type=merge -p '{"spec":{"greeting":"back"}}' >/dev/null
kubectl wait -n "$ns" configmap/b-config --for=jsonpath='{.data.greeting}'=back --timeout=60s >/dev/null ||
  fail "2. instance b did not reconcile after the webhook came back"
echo "ok: 2. instance reconciles after the webhook came back"

# 3. kubectl delete -f of a folder holding an RGD and its instances (kubectl
# takes the files in name order: the instances first, as GitOps pruning does).
mkdir "$dir/app"
cp "$dir/rgd.yaml" "$dir/instance-a.yaml" "$dir/instance-b.yaml" "$dir/app/"
kubectl apply -f "$dir/instance-a.yaml" >/dev/null
wait_active reltry a
timed "3. kubectl delete -f of a folder with the RGD and its instances" \
  kubectl delete -f "$dir/app/" --timeout=90s
kubectl get rgd reltry >/dev/null 2>&1 && fail "3. the RGD is still there"
for i in a b; do
  kubectl get -n "$ns" configmap "$i-config" >/dev/null 2>&1 && fail "3. instance $i's ConfigMap was left behind"
done

kubectl delete namespace "$ns" --wait=false >/dev/null
echo "all reliability routes behaved"
