# MyRetail GenAI — developer entry points. Every target builds what it needs itself:
#   make demo    the whole product on this machine (CPU, no keys, no network)
#   make test    lint, type checks and every test suite (what CI runs)
#   make lint    ruff + mypy only
#   make bench   the benchmarks quoted in README.md

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
SERVICES := common finetune inference rag_api chatbot_ui testkit
SERVICE_DIRS := $(addprefix services/,$(SERVICES))
SERVICE_SRC := $(wildcard $(addsuffix /src,$(SERVICE_DIRS)))
PYPROJECTS := $(wildcard $(addsuffix /pyproject.toml,$(SERVICE_DIRS)))
# Debian packages the tests start for real: Redis for chat history, Chromium for the UI.
DEBIAN_PACKAGES := redis-server chromium
PYTEST_ARGS ?=

.PHONY: help demo test lint pytest bench env system-deps lock clean

help:
	@echo "make demo   - run the whole local stack (tiny model, embedded Qdrant, UI on :7860)"
	@echo "make test   - lint, type-check and run every test (CI runs this)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks (figures quoted in README.md)"
	@echo "make lock   - re-resolve requirements/dev.lock from requirements/dev.in"

# The development environment: one venv with every service installed editable, pinned by
# requirements/dev.lock; checkov lives in its own venv because it pins its dependencies.
$(BIN)/.installed: requirements/dev.in requirements/dev.lock $(PYPROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the CPU build on local disk (any other requirement pulls a CUDA build)
	$(BIN)/python -m pip install --quiet -c requirements/dev.lock torch
	$(BIN)/python -m pip install --quiet -c requirements/dev.lock -r requirements/dev.in \
		$(addprefix -e ,$(dir $(PYPROJECTS)))
	@touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	@touch $@

env: $(BIN)/.installed $(CHECKOV_VENV)/.installed

system-deps:
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SERVICE_SRC)

pytest: env system-deps
	@mkdir -p artifacts
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov \
		$(BIN)/pytest --junitxml=artifacts/junit.xml $(PYTEST_ARGS)

test: lint pytest

demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py

bench: $(BIN)/.installed
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

lock: $(BIN)/.installed
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements/dev.lock
	@echo "requirements/dev.lock updated"

clean:
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
