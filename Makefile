# meshpipe: `make demo` runs the main job, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Debian packages the project needs: Java + Maven for the Kafka broker, ClickHouse, the peers
# and tools used by tests and benchmarks; debootstrap, umoci and skopeo build the images; the
# local Kubernetes node (`meshctl dev cluster`): etcd, containerd + runc + CNI plugins, conntrack
# for kube-proxy, busybox-static for its images; chromium + chromium-driver run the dashboard's
# browser test; gcc and python3-dev compile the mypyc build (MESHPIPE_COMPILE=1: the images'
# wheel, bench --compiled, tests/integration/test_compiled_wheel.py). `make assets` needs npm
# (Node.js 18+; not listed: Debian's npm package conflicts with the nodejs builds that ship their
# own npm).
SYSTEM_PACKAGES := openjdk-17-jre-headless maven clickhouse-server clickhouse-client haproxy \
	nginx-light wrk nghttp2-client iptables iproute2 curl procps debootstrap umoci skopeo \
	chromium chromium-driver gcc python3-dev \
	etcd-server containerd runc containernetworking-plugins conntrack busybox-static openssl

.PHONY: setup system assets venv fetch tools lint proto proto-check test test-unit test-integration demo dev-up dev-down images cluster-build clean

setup: system assets venv fetch tools

# Go tools (Go module proxy) go into the venv's bin, next to the project's own commands.
# fortio (bench: gRPC origin and load) stays at v1.68.2: v1.69+ need grol.io/grol, which the
# module proxy here refuses (host not on its allow-list).
GO_TOOLS := github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible fortio.org/fortio@v1.68.2
tools: venv
	@for t in $(GO_TOOLS); do name=$$(basename $${t%@*}); \
		test -x $(VENV)/bin/$$name || GOBIN=$(abspath $(VENV))/bin go install $$t \
			|| { echo "go install $$t failed" >&2; exit 1; }; done

# Installs missing Debian packages when root; otherwise says what is missing and goes on.
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "system packages: present"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "system packages: installing $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null \
			|| { echo "apt-get install failed for: $$missing" >&2; exit 1; }; \
	else echo "system packages missing (install them as root): $$missing" >&2; fi

# The dashboard's third-party browser libraries (package.json, package-lock.json) from npm, copied
# into dashboard/static/vendor/ (gitignored package data: the wheel and the images carry them).
VENDOR := dashboard/static/vendor
assets: $(VENDOR)/.installed

$(VENDOR)/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "make assets needs npm (Node.js 18+)" >&2; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(VENDOR)
	@cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	@cp node_modules/uplot/LICENSE $(VENDOR)/uPlot.LICENSE
	@cp node_modules/cytoscape/dist/cytoscape.min.js $(VENDOR)/
	@cp node_modules/cytoscape/LICENSE $(VENDOR)/cytoscape.LICENSE
	@touch $@

venv: $(VENV)/.installed

# meshpipe and the meshpipe-demo distribution (demo/), both editable: the `meshpipe` namespace
# maps onto the repository's folders.
$(VENV)/.installed: pyproject.toml demo/pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip setuptools wheel
	@$(PY) -m pip install -q -e '.[dev]' -e ./demo
	@touch $@

# Into ~/.cache/meshpipe, once per version: the Kafka broker's jars (Maven Central) and the CRDs of
# the Strimzi release in deploy/operators.py, made by its CRD generator from its Maven Central
# jars (needs Java 21+: JAVA_HOME, or any runtime under /usr/lib/jvm).
fetch: venv
	@$(VENV)/bin/meshctl dev fetch

proto: venv
	@$(PY) -m meshpipe.schemas.codegen
	@$(PY) -m meshpipe.demo.codegen

# mypy reads the installed names (meshpipe.proxy, …) from a tree of links to the folders.
TYPECHECK := build/typecheck
PARTS := proxy streams sinks cli dashboard schemas deploy demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tests/layers.py
	@mkdir -p $(TYPECHECK)/meshpipe
	@for p in $(PARTS); do ln -sfn ../../../$$p $(TYPECHECK)/meshpipe/$$p; done
	@ln -sfn ../../bench $(TYPECHECK)/bench
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	$(VENV)/bin/pytest tests/integration tests/e2e $(PYTEST_ARGS)

dev-up: setup
	$(VENV)/bin/meshctl dev up

dev-down: venv
	$(VENV)/bin/meshctl dev down

# Kubernetes v1.33.13 and CoreDNS from the Go module proxy into ~/.cache/meshpipe (~20 min once,
# niced); the tests' first `meshctl dev cluster up` does the same when they are missing.
cluster-build: venv
	$(VENV)/bin/meshctl dev cluster build

demo: setup
	$(VENV)/bin/meshctl demo

# deploy/images/Containerfile built without Docker (as root): OCI layouts and docker-archives of
# meshproxy, meshstreams and meshpipe-demo in build/images/ (the Debian base is made once).
images: system assets venv
	$(VENV)/bin/meshctl dev images

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
