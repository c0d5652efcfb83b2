# mcpops — everything a developer or CI runs goes through this file.
# A fresh machine needs nothing by hand: targets install what they use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/mcpops

# Pinned component versions; the cache directories are keyed by the go.mod/go.sum
# contents so a version bump rebuilds and an unchanged pin never does.
K8S_VERSION := v1.34.4
CP_KEY := $(shell cat hack/controlplane/go.mod hack/controlplane/go.sum | sha256sum | cut -c1-12)
KWOK_KEY := $(shell cat hack/kwok/go.mod hack/kwok/go.sum | sha256sum | cut -c1-12)
HELM_KEY := $(shell cat hack/helm/go.mod hack/helm/go.sum 2>/dev/null | sha256sum | cut -c1-12)
CP_BIN := $(CACHE)/controlplane-$(K8S_VERSION)-$(CP_KEY)
# The real node's kubelet and kube-proxy come from the same pinned module (same key).
NODE_BIN := $(CACHE)/node-$(K8S_VERSION)-$(CP_KEY)
COREDNS_KEY := $(shell cat hack/coredns/go.mod hack/coredns/go.sum | sha256sum | cut -c1-12)
COREDNS_BIN := $(CACHE)/coredns-$(COREDNS_KEY)
# kube-router's NetworkPolicy controller (only that part runs), for spec.network on the real node.
KUBEROUTER_KEY := $(shell cat hack/kuberouter/go.mod hack/kuberouter/go.sum | sha256sum | cut -c1-12)
KUBEROUTER_BIN := $(CACHE)/kuberouter-$(KUBEROUTER_KEY)
# Debian packages the real node runs on (containerd, runc, CNI plugins, iptables).
NODE_APT := containerd runc containernetworking-plugins iptables conntrack ipset
KWOK_BIN := $(CACHE)/kwok-$(KWOK_KEY)
HELM_BIN := $(CACHE)/helm-$(HELM_KEY)
# promtool validates the chart's alerting rules; Debian's prometheus package, else built
# from hack/promtool/go.mod (same upstream version).
PROMTOOL_VERSION := 2.42.0
PROMTOOL_DIR := $(CACHE)/promtool-$(PROMTOOL_VERSION)
export MCPOPS_CP_BIN := $(CP_BIN)
export MCPOPS_KWOK_BIN := $(KWOK_BIN)
export MCPOPS_NODE_BIN := $(NODE_BIN)
export MCPOPS_COREDNS_BIN := $(COREDNS_BIN)
export MCPOPS_KUBEROUTER := $(KUBEROUTER_BIN)/kube-router
export MCPOPS_HELM := $(HELM_BIN)/helm
export MCPOPS_PROMTOOL := $(PROMTOOL_DIR)/promtool
export GOFLAGS := -mod=mod -buildvcs=false

K8S_LDFLAGS := -s -w \
  -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=34 \
  -X k8s.io/component-base/version.gitTreeState=clean \
  -X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION) \
  -X k8s.io/client-go/pkg/version.gitMajor=1 \
  -X k8s.io/client-go/pkg/version.gitMinor=34

# The in-pod proxy (proxy/, Go: standard library and cel-go): a static binary cached by the
# hash of its sources and the Go version, so tests and benches share one build.
PROXY_KEY := $(shell (go version; find proxy -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-12)
PROXY_BIN := $(CACHE)/proxy-$(PROXY_KEY)/mcpops-proxy
# The floor (bench/floor, Go, client-go): the reference controller bench-floor measures
# mcpops against; cached by the hash of its module and sources.
FLOOR_KEY := $(shell cat bench/floor/go.mod bench/floor/go.sum $$(ls bench/floor/*.go | LC_ALL=C sort) | sha256sum | cut -c1-12)
FLOOR_DIR := $(CACHE)/floor-$(FLOOR_KEY)
export MCPOPS_PROXY_BIN := $(PROXY_BIN)
# npm packages the proxy tests run (server-everything, the conformance suite): pinned in
# hack/npm/package-lock.json, installed into a cache keyed by the lockfile.
NPM_KEY := $(shell cat hack/npm/package.json hack/npm/package-lock.json 2>/dev/null | sha256sum | cut -c1-12)
NPM_DIR := $(CACHE)/npm-$(NPM_KEY)
export MCPOPS_NPM_DIR := $(NPM_DIR)

KUBECONFIG_LOCAL := $(CURDIR)/.cluster/kubeconfig
PYTEST := $(VENV)/bin/pytest

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- toolchain

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[solver,dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## the Python environment (operator, solver runtime, dev tools)

# Keyed by content hash above, so no file prerequisites: a fresh clone (new mtimes)
# must not rebuild what the cache already holds.
$(CP_BIN)/.stamp:
	@echo ">> building kube-apiserver, controller-manager, scheduler, kubectl $(K8S_VERSION) and etcd into $(CP_BIN)"
	cd hack/controlplane && go build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $(CP_BIN)/ \
	  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	cd hack/controlplane && go build -trimpath -ldflags '-s -w' -o $(CP_BIN)/etcd go.etcd.io/etcd/server/v3
	touch $@

$(NODE_BIN)/.stamp:
	@echo ">> building kubelet and kube-proxy $(K8S_VERSION) into $(NODE_BIN)"
	cd hack/controlplane && go build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $(NODE_BIN)/ \
	  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
	touch $@

$(COREDNS_BIN)/.stamp:
	@echo ">> building CoreDNS into $(COREDNS_BIN)"
	cd hack/coredns && go build -trimpath -ldflags '-s -w' -o $(COREDNS_BIN)/coredns github.com/coredns/coredns
	touch $@

$(KUBEROUTER_BIN)/.stamp:
	@echo ">> building kube-router into $(KUBEROUTER_BIN)"
	cd hack/kuberouter && go build -trimpath -ldflags '-s -w' -o $(KUBEROUTER_BIN)/kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
	touch $@

$(KWOK_BIN)/.stamp:
	@echo ">> building kwok into $(KWOK_BIN)"
	cd hack/kwok && go build -trimpath -ldflags '-s -w' -o $(KWOK_BIN)/kwok sigs.k8s.io/kwok/cmd/kwok
	touch $@

$(FLOOR_DIR)/.stamp:
	@echo ">> building the floor controller into $(FLOOR_DIR)"
	cd bench/floor && go build -trimpath -ldflags '-s -w' -o $(FLOOR_DIR)/floor .
	touch $@

$(HELM_BIN)/.stamp:
	@echo ">> building helm into $(HELM_BIN)"
	cd hack/helm && go build -trimpath -ldflags '-s -w' -o $(HELM_BIN)/helm helm.sh/helm/v3/cmd/helm
	touch $@

$(PROMTOOL_DIR)/promtool:
	hack/promtool.sh $(PROMTOOL_VERSION) $(PROMTOOL_DIR)

.PHONY: controlplane helm promtool node node-apt
controlplane: $(CP_BIN)/.stamp $(KWOK_BIN)/.stamp ## build the local control plane binaries (cached)
helm: $(HELM_BIN)/.stamp ## build helm (cached)
node-apt: ## install the Debian packages the real node needs (only the missing ones; root only)
	@missing=$$(for p in $(NODE_APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo ">> apt-get install $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo ">> not root: the real node needs $$missing (skipped)"; fi; fi
node: node-apt $(NODE_BIN)/.stamp $(COREDNS_BIN)/.stamp $(KUBEROUTER_BIN)/.stamp ## the real node: apt packages, kubelet, kube-proxy, CoreDNS, kube-router (cached)
promtool: $(PROMTOOL_DIR)/promtool ## promtool for the alert rules (cached; Debian package or Go)

$(PROXY_BIN):
	@echo ">> building mcpops-proxy into $(PROXY_BIN)"
	cd proxy && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o $(PROXY_BIN) ./cmd/mcpops-proxy

# Keyed by the lockfile's hash (NPM_KEY), so no file prerequisites: a fresh checkout's new
# mtimes must not reinstall what the cache holds.
$(NPM_DIR)/.stamp:
	@echo ">> installing the pinned npm packages into $(NPM_DIR)"
	mkdir -p $(NPM_DIR)
	cp hack/npm/package.json hack/npm/package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: proxy npm-tools
proxy: $(PROXY_BIN) ## build the in-pod proxy (static, cached by source hash)
npm-tools: $(NPM_DIR)/.stamp ## the pinned npm packages (server-everything, conformance), cached

.PHONY: controlplane-env
controlplane-env: ## print where the cached binaries live (for tools run outside make)
	@echo MCPOPS_CP_BIN=$(CP_BIN)
	@echo MCPOPS_KWOK_BIN=$(KWOK_BIN)
	@echo MCPOPS_NODE_BIN=$(NODE_BIN)
	@echo MCPOPS_COREDNS_BIN=$(COREDNS_BIN)
	@echo MCPOPS_KUBEROUTER=$(KUBEROUTER_BIN)/kube-router
	@echo MCPOPS_HELM=$(HELM_BIN)/helm
	@echo MCPOPS_PROMTOOL=$(PROMTOOL_DIR)/promtool
	@echo MCPOPS_PROXY_BIN=$(PROXY_BIN)
	@echo MCPOPS_NPM_DIR=$(NPM_DIR)

# ---------------------------------------------------------------- images

# hack/images.py: a Debian base made with debootstrap, then ./Dockerfile (operator, solver), the
# MCP server images and the node's pause image, built with podman (installed if missing) into
# mcpops' own store; archives and tags under $(CACHE)/images/, keyed by content.
.PHONY: images images-check image-tags
images: proxy ## build every container image (cached: only what changed is rebuilt)
	$(PYTHON) hack/images.py build

images-check: images ## run each image once with no network (cheap when nothing changed)
	$(PYTHON) hack/images.py check

image-tags: ## the current image references (`hack/images.py tags --json` for tools)
	@$(PYTHON) hack/images.py tags

# ---------------------------------------------------------------- cluster

.PHONY: cluster-up cluster-down cluster-status
cluster-up: controlplane node ## start the local control plane and, as root, the real node (idempotent)
	$(PYTHON) hack/cluster.py up

cluster-down: ## stop exactly what cluster-up started (idempotent)
	$(PYTHON) hack/cluster.py down

cluster-status:
	$(PYTHON) hack/cluster.py status

# ---------------------------------------------------------------- code

.PHONY: argocd-health
argocd-health: ## regenerate charts/mcpops/argocd/argocd-cm.yaml from the Lua health checks
	$(PYTHON) hack/argocd_health.py

.PHONY: dashboard
dashboard: ## regenerate charts/mcpops/dashboards/mcpops.json (hack/grafana_dashboard.py)
	$(PYTHON) hack/grafana_dashboard.py

.PHONY: crds crds-check docs docs-check manifests manifests-check lint fmt typecheck
crds: venv ## regenerate crds/ and the chart's CRDs from the API models
	$(VENV)/bin/mcpops crds --out crds --chart charts/mcpops/crds

crds-check: venv ## fail if crds/ drifted from the models
	$(VENV)/bin/mcpops crds --out crds --chart charts/mcpops/crds --check

docs: venv proxy ## regenerate docs/reference/ (every CRD field, every metric) from the code
	$(VENV)/bin/mcpops docs --out docs/reference
	mkdir -p docs/reference/proxy && $(PROXY_BIN) metrics-doc > docs/reference/proxy/metrics.md

docs-check: venv proxy ## fail if docs/reference/ drifted from the code
	$(VENV)/bin/mcpops docs --out docs/reference --check
	$(PROXY_BIN) metrics-doc | diff -u docs/reference/proxy/metrics.md - \
	  || { echo "docs/reference/proxy/metrics.md is stale: run make docs"; exit 1; }

manifests: helm ## regenerate deploy/mcpops.yaml (plain manifests) from the Helm chart
	$(PYTHON) hack/manifests.py

manifests-check: helm ## fail if deploy/mcpops.yaml drifted from the chart
	$(PYTHON) hack/manifests.py --check

lint: venv ## ruff lint (complexity at most 15) and format check, import layers (import-linter); gofmt and go vet on the Go code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	@out=$$(gofmt -l proxy bench/proxybench bench/floor); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd proxy && go vet ./...
	cd bench/proxybench && go vet ./...
	cd bench/floor && go vet ./...

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: venv ## mypy --strict on the packages
	$(VENV)/bin/mypy

# ---------------------------------------------------------------- tests

.PHONY: test test-unit test-process test-cluster test-e2e registries
test-unit: venv promtool ## pure-function tests (models, decisions, property-based)
	$(PYTEST) -q tests/unit

# The spec.updates tests run real registries on loopback: Debian's docker-registry (this
# target), pypiserver (dev extra) and verdaccio (hack/verdaccio, installed by the tests into
# $(CACHE)/verdaccio-<lockfile hash>).
registries: ## Debian's docker-registry for the spec.updates tests (apt, once)
	@command -v docker-registry >/dev/null || { apt-get install -y --no-install-recommends \
	  docker-registry >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y \
	  --no-install-recommends docker-registry; }; }

test-process: venv registries proxy npm-tools ## real processes: MCP servers, bridge, probe, runner, proxy, solver
	$(PYTEST) -q -m process tests/process tests/solver

.PHONY: test-proxy
test-proxy: venv proxy npm-tools ## the proxy: Go unit tests (race detector), then real processes and conformance
	cd proxy && go test -race -count=1 ./...
	$(PYTEST) -q tests/process/test_proxy*.py

test-cluster: venv controlplane helm registries ## tests on the local control plane
	$(PYTEST) -q tests/cluster

test: venv controlplane helm promtool node images registries proxy npm-tools ## everything CI runs
	$(MAKE) --no-print-directory lint typecheck crds-check docs-check manifests-check images-check
	cd proxy && go test -race -count=1 ./...
	$(PYTEST) -q tests --ignore=tests/e2e
	$(PYTEST) -q tests/e2e

# A session of its own: its operator is the chart's pod, and no operator process of the
# cluster tests may act on the same objects.
test-e2e: venv controlplane helm node images ## real containers on the real node (skips without root)
	$(PYTEST) -q tests/e2e

# ---------------------------------------------------------------- demo, bench

.PHONY: demo bench bench-proxy bench-solver bench-solver-generated bench-warmstart bench-rollout bench-cleanup bench-scale bench-floor
demo: venv controlplane node images ## local control plane + CRDs + operator + examples, shown until Ready
	$(PY) hack/demo.py

bench: bench-solver bench-warmstart bench-rollout bench-cleanup bench-scale bench-proxy ## every benchmark; results in bench/results/ (about an hour)

# BENCH_PROXY_BASELINE=PATH: an earlier mcpops-proxy build, whose size and RSS at rest go beside this one's.
bench-proxy: venv proxy ## the in-pod proxy against its budget (RSS, added latency, req/s, warm pool, bridge cost)
	cd bench/proxybench && go run . -proxy $(PROXY_BIN) -python $(CURDIR)/$(PY) -tests $(CURDIR)/tests -out $(CURDIR)/bench/results/proxy.md \
	  $(if $(BENCH_PROXY_BASELINE),-baseline $(BENCH_PROXY_BASELINE))

bench-solver: venv ## the solver runtime on the shared instances (auto vs each backend), then the generated set
	$(PY) bench/solver_bench.py --out bench/results
	$(MAKE) bench-solver-generated

# Seeded random LPs and MIPs (bench/gen_instances.py), unseen by auto's fit; optima proven by
# HiGHS and CBC agreeing. Cached by the generator's source and the pinned solver versions.
GEN_KEY := $(shell cat bench/gen_instances.py pyproject.toml | sha256sum | cut -c1-12)
GEN_DATA := $(CACHE)/solver-generated-$(GEN_KEY)
bench-solver-generated: venv ## the solver runtime on 30 generated instances; results in bench/results/generated/
	test -f $(GEN_DATA)/manifest.json || $(PY) bench/gen_instances.py --out $(GEN_DATA) --count 30
	MCPOPS_OPT_DATA=$(GEN_DATA) $(PY) bench/solver_bench.py --sets generated --out bench/results/generated

bench-warmstart: venv ## warm start (spec.warmStartFrom): re-solve time with and without, on shared MIPs
	$(PY) bench/warmstart_bench.py --out bench/results

bench-rollout: venv controlplane ## blue-green overhead: spec change to switch, minus the tests
	$(PY) bench/rollout_bench.py --out bench/results

bench-cleanup: venv controlplane ## CleanupPolicy over 5,000 objects: evaluate time, operator RSS growth
	$(PY) bench/cleanup_bench.py --out bench/results

# 100, 300 and 1,000 MCPServers at once, 10 minutes at rest, a mass rollout of 1,000
# (about 30 minutes). Quick look: `$(PY) bench/scale_bench.py --sizes 100,300
# --steady-seconds 60 --rollout-size 300 --out /tmp/scale`.
bench-scale: venv controlplane ## fleet scale benchmark; results in bench/results/scale.{json,md}
	$(PY) bench/scale_bench.py --out bench/results

# mcpops against the floor (bench/floor: the least any controller does for the same work) at
# 100, 1,000 and 10,000 MCPServers, 5 minutes at rest after the largest (about 1.5 hours on
# 2 cores; README "The floor"); not in `bench` for that reason. Sizes: `make bench-floor
# FLOOR_ARGS="--sizes 100,1000"`.
bench-floor: venv controlplane $(FLOOR_DIR)/.stamp ## mcpops against a minimal Go controller doing the same writes; bench/results/floor.{json,md}
	$(PY) bench/floor_bench.py --floor-bin $(FLOOR_DIR)/floor --out bench/results $(FLOOR_ARGS)
