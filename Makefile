# MyRetail GenAI — developer entry points. Every target builds what it needs itself, on any
# Linux machine with a supported Python (SUPPORTED_PYTHONS); `make help` lists them all.
#
# Each target's description is its `## ` comment, which `make help` prints: a new target
# needs one (tests/infra/test_workflows.py checks that help lists every target).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
SUPPORTED_PYTHONS := 3.11 3.12
VENV ?= .venv
BIN := $(VENV)/bin
# checkov pins many libraries of its own, so it lives in a venv of its own
CHECKOV_VENV ?= .venv-checkov
SERVICES := common finetune inference rag_api chatbot_ui testkit
SERVICE_DIRS := $(addprefix services/,$(SERVICES))
SERVICE_SRC := $(wildcard $(addsuffix /src,$(SERVICE_DIRS)))
PYPROJECTS := $(wildcard $(addsuffix /pyproject.toml,$(SERVICE_DIRS)))
PYTEST_ARGS ?=

# The test suites, one "part" per folder: services/<part>/tests and tests/<part>. Each part
# has a target test-<part>; the CI workflow runs one job per part (plus lint).
SERVICE_TEST_PARTS := $(patsubst services/%/tests,%,$(wildcard services/*/tests))
REPO_TEST_PARTS := $(filter-out __pycache__,$(patsubst tests/%/,%,$(wildcard tests/*/)))
TEST_PARTS := $(SERVICE_TEST_PARTS) $(REPO_TEST_PARTS)
TEST_TARGETS := $(addprefix test-,$(TEST_PARTS))
test_dir = $(or $(wildcard services/$(1)/tests),tests/$(1))

# Programs the tests start for real, as program:Debian-package. Redis keeps chat history;
# Chromium drives the UI (the tests run $CHROMIUM_PATH, /usr/bin/chromium by default).
CHROMIUM_PATH ?= /usr/bin/chromium
SYSTEM_PROGRAMS := redis-server:redis-server $(CHROMIUM_PATH):chromium

# The lock pins PyTorch's CPU build (torch==X+cpu), which PyPI does not host: pip takes it
# from PyTorch's CPU wheel index. Point TORCH_INDEX_URL at a mirror of that index, or set it
# empty where pip's own configuration already serves torch (`pip config list`).
TORCH_INDEX_URL ?= https://download.pytorch.org/whl/cpu
# Probed once per make run, with a 5 s timeout, and left out when unreachable: pip would
# otherwise retry it five times for every package it looks up (about 8 s each).
TORCH_INDEX_OPTS = $(eval TORCH_INDEX_OPTS := $(call torch_index_opts))$(TORCH_INDEX_OPTS)
torch_index_opts = $(if $(TORCH_INDEX_URL),$(if $(call reachable,$(TORCH_INDEX_URL)/torch/),\
	--extra-index-url $(TORCH_INDEX_URL),$(warning $(TORCH_INDEX_UNREACHABLE))))
reachable = $(shell $(PYTHON) -c 'import sys, urllib.request; \
	urllib.request.urlopen(sys.argv[1], timeout=5)' '$(1)' >/dev/null 2>&1 && echo yes)
TORCH_INDEX_UNREACHABLE := $(TORCH_INDEX_URL) is not reachable: torch comes from pip's own \
	configuration only (set TORCH_INDEX_URL to a reachable copy of that index if it is not there)

PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	$(if $(UPGRADE),--upgrade) $(TORCH_INDEX_OPTS)

.PHONY: help demo test lint pytest $(TEST_TARGETS) bench env check-python system-deps lock clean

help: ## list every target with what it does
	@awk -F ':.*## ' '/^[a-z][a-z_-]*:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@$(foreach part,$(TEST_PARTS),printf '  %-18s %s\n' test-$(part) \
		'the tests in $(call test_dir,$(part)) only (report: artifacts/junit-$(part).xml)';)
	@echo "variables: PYTHON, VENV, TORCH_INDEX_URL, PYTEST_ARGS, CHROMIUM_PATH, UPGRADE"

demo: $(VENV)/.installed ## run the whole product locally: tiny model, embedded Qdrant, UI on :7860
	$(BIN)/python scripts/demo.py

test: lint pytest ## lint, type-check and run every test suite (what CI runs)

lint: $(VENV)/.installed ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SERVICE_SRC)

# $(call run_pytest,REPORT,PATHS): pytest with a junit report in artifacts/REPORT.xml
define run_pytest
@mkdir -p artifacts
CHECKOV_BIN=$(abspath $(CHECKOV_VENV))/bin/checkov \
	$(BIN)/pytest --junitxml=artifacts/$(1).xml $(PYTEST_ARGS) $(2)
endef

pytest: env system-deps ## every test suite in one run, no lint (report: artifacts/junit.xml)
	$(call run_pytest,junit,)

# one target per test part (listed by `make help`)
$(TEST_TARGETS): test-%: env system-deps
	$(call run_pytest,junit-$*,$(call test_dir,$*))

bench: $(VENV)/.installed ## run the benchmarks quoted in README.md
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

env: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## create .venv (every service, editable) and .venv-checkov

define CHECK_PYTHON
import sys
supported = sys.argv[1:]
found = "%d.%d" % sys.version_info[:2]
if found not in supported:
    sys.exit(
        f"{sys.executable} is Python {found}; this project supports Python "
        f"{' or '.join(supported)}. Install one and run: make PYTHON=python{supported[0]} ..."
    )
endef
export CHECK_PYTHON
NO_PYTHON := install Python $(firstword $(SUPPORTED_PYTHONS)), or run make PYTHON=/path/to/python3.X
NO_VENV := on Debian/Ubuntu, apt-get install python3-venv (python3.X-venv for another version)

check-python: ## check that the interpreter (PYTHON=python3) is a supported version
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: $(NO_PYTHON)" >&2; exit 1; }
	@$(PYTHON) -c "$$CHECK_PYTHON" $(SUPPORTED_PYTHONS)

# $(call create_venv,DIR): a virtualenv in DIR, unless there is one, with the locked pip
define create_venv
@test -x $(1)/bin/python || $(PYTHON) -m venv $(1) \
	|| { rm -rf $(1); echo "$(PYTHON) -m venv failed: $(NO_VENV)" >&2; exit 1; }
$(1)/bin/python -m pip install --quiet --constraint requirements/dev.lock pip
endef

# The development environment: every service installed editable, pinned by requirements/dev.lock.
# torch is installed first and alone: it is the only package from PyTorch's index.
NO_TORCH := pip found no torch build matching requirements/dev.lock: see TORCH_INDEX_URL above
$(VENV)/.installed: requirements/dev.in requirements/dev.lock $(PYPROJECTS) | check-python
	$(call create_venv,$(VENV))
	$(BIN)/python -m pip install --quiet --constraint requirements/dev.lock \
		$(TORCH_INDEX_OPTS) torch || { echo "$(NO_TORCH)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --constraint requirements/dev.lock \
		--requirement requirements/dev.in $(addprefix --editable ,$(dir $(PYPROJECTS)))
	@touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt | check-python
	$(call create_venv,$(CHECKOV_VENV))
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --requirement requirements/checkov.txt
	@touch $@

system-deps: ## check redis-server and chromium (the tests start them); root installs them
	@missing=""; \
	for entry in $(SYSTEM_PROGRAMS); do \
		command -v "$${entry%:*}" >/dev/null || missing="$$missing $${entry##*:}"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	install="apt-get install -y --no-install-recommends$$missing"; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages:$$missing. Install them as root, then run make again:" >&2; \
		echo "  sudo apt-get update && sudo $$install" >&2; \
		exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive $$install -qq

lock: check-python ## resolve requirements/*.in into the pins (UPGRADE=1: newest releases)
	$(call create_venv,$(VENV))
	$(BIN)/python -m pip install --quiet --constraint requirements/dev.lock pip-tools
	$(PIP_COMPILE) --output-file requirements/dev.lock requirements/dev.in
	$(PIP_COMPILE) --output-file requirements/checkov.txt requirements/checkov.in
	@echo "requirements/dev.lock and requirements/checkov.txt resolved; make env installs them"

clean: ## remove var/, artifacts/ and tool caches (keeps the venvs)
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
