#!/usr/bin/env bash
# CI entry point of .github/workflows/ci.yml: everything `make test` runs (ruff, mypy, the
# service unit tests, the chart tests, tests/infra: terraform parse + checkov, hadolint).
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=true

make test
