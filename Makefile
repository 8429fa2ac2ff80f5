# korvid Makefile. Every tool it needs is built or installed through the Go
# module proxy at a pinned version and cached under bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

KUBE_VERSION        ?= v1.37.1
ETCD_VERSION        ?= v3.6.16
KWOK_VERSION        ?= v0.8.0
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION  ?= v2.15.0

BIN        := $(CURDIR)/bin
K8S_BIN    := $(BIN)/k8s/$(KUBE_VERSION)
TOOLS_BIN  := $(BIN)/tools
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)/controller-gen
GOLANGCI_LINT  := $(TOOLS_BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

GO_TEST_FLAGS ?= -race -timeout 30m

# The version stamped into both binaries (and the objects they label):
# git describe's answer, or internal/version's own fallback outside a git
# checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/korvid/korvid/internal/version.Version=$(VERSION)
export KUBEBUILDER_ASSETS := $(K8S_BIN)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build the webhook, controller and korvid CLI binaries into bin/ (korvid also as the kubectl plugin kubectl-korvid).
	CGO_ENABLED=0 go build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...
	ln -sf korvid $(BIN)/kubectl-korvid

.PHONY: test
test: control-plane build ## Run unit and integration tests (builds the test control plane and both binaries first).
	go test $(GO_TEST_FLAGS) ./...

BENCH_N     ?= 200,1000
BENCH_MICRO ?= 1
BENCH_DIR   := $(BIN)/bench
.PHONY: crash
crash: control-plane build ## Crash consistency: SIGKILL the controller 20+ times while 100 instances are created, updated and deleted.
	go test -tags crash -count=1 -v -timeout 30m -run TestCrashConsistency ./test/reliability/

.PHONY: soak
soak: control-plane ## Soak: 1000 instances updated in a loop for 10 minutes; prints goroutines, heap and Warning events.
	KORVID_SOAK_INSTANCES=1000 KORVID_SOAK_DURATION=10m go test -count=1 -v -timeout 40m -run TestSoak ./test/reliability/

.PHONY: bench
bench: build local-control-plane ## Micro benchmarks and end-to-end runs next to the floor (BENCH_N=200,1000) on a local cluster: one table, JSON in bin/bench/.
	mkdir -p $(BENCH_DIR)
	if [ "$(BENCH_MICRO)" = 1 ]; then \
		go test -run '^$$' -bench . -benchmem -benchtime 2s ./internal/... > $(BENCH_DIR)/micro.txt || { cat $(BENCH_DIR)/micro.txt; exit 1; }; \
	else : > $(BENCH_DIR)/micro.txt; fi
	go build -o $(BIN)/bench-e2e ./hack/bench-e2e
	$(BIN)/bench-e2e --n $(BENCH_N) --micro $(BENCH_DIR)/micro.txt --out $(BENCH_DIR) --dir $(BENCH_DIR)/cluster \
		--control-plane-dir $(K8S_BIN) --bin-dir $(BIN) --kwok-version $(KWOK_VERSION) $(BENCH_FLAGS)

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD, RBAC and webhook manifests.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=deploy/kustomize/crd/bases
	$(CONTROLLER_GEN) webhook paths=./internal/admission/... output:webhook:artifacts:config=deploy/kustomize/webhook

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Regenerate code and manifests; fail if any generated file differed.
	hack/verify-generated.sh generate manifests

.PHONY: openapi-snapshot
openapi-snapshot: control-plane ## Refresh the built-in kinds' OpenAPI snapshot the static schema resolver embeds.
	go run ./hack/snapshot-openapi -assets $(K8S_BIN) -out internal/graph/resolver/builtin/openapi.json.gz

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: duplicates
duplicates: ## List places in the production code (no tests, generated code, testdata) sharing six or more lines.
	hack/duplicates.sh

##@ Tools

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl into bin/k8s/<version> (only when missing).
	KUBE_VERSION=$(KUBE_VERSION) ETCD_VERSION=$(ETCD_VERSION) KWOK_VERSION=$(KWOK_VERSION) \
		hack/build-control-plane.sh $(K8S_BIN) kube-apiserver etcd kubectl

.PHONY: local-control-plane
local-control-plane: ## Build everything the local cluster runs (control plane, kube-controller-manager, kube-scheduler, kwok) into bin/k8s/<version>.
	KUBE_VERSION=$(KUBE_VERSION) ETCD_VERSION=$(ETCD_VERSION) KWOK_VERSION=$(KWOK_VERSION) \
		hack/build-control-plane.sh $(K8S_BIN) kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kwok

$(CONTROLLER_GEN):
	GOBIN=$(dir $@) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(dir $@) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

##@ Run and deploy

LOCAL_DIR      ?= $(BIN)/local
KUBECTL        := $(K8S_BIN)/kubectl
IMG_CONTROLLER ?= korvid/controller:dev
IMG_WEBHOOK    ?= korvid/webhook:dev

.PHONY: run
run: build local-control-plane ## Run korvid on a local containerless cluster (kwok nodes) in the foreground; Ctrl-C stops it.
	go build -o $(BIN)/run-local ./hack/run-local
	$(BIN)/run-local --dir $(LOCAL_DIR) --control-plane-dir $(K8S_BIN) --bin-dir $(BIN) --kwok-version $(KWOK_VERSION)

.PHONY: test-e2e
test-e2e: control-plane ## Run only the end-to-end install test (verbose).
	go test $(GO_TEST_FLAGS) -count=1 -v ./test/e2e/

.PHONY: deploy
deploy: control-plane ## Apply deploy/kustomize/default to the current kubectl context (needs cert-manager).
	$(KUBECTL) apply --server-side -k deploy/kustomize/default

.PHONY: docker-build
docker-build: ## Build the controller and webhook images.
	docker build --build-arg VERSION=$(VERSION) --target controller -t $(IMG_CONTROLLER) .
	docker build --build-arg VERSION=$(VERSION) --target webhook -t $(IMG_WEBHOOK) .
