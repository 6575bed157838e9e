#!/usr/bin/env bash
# The test entry point of .github/workflows/ci.yml, one part at a time:
#   ci/test.sh           make test: lint, type checks and every test suite (what .ci/run runs)
#   ci/test.sh lint      make lint: ruff and mypy
#   ci/test.sh PART      make test-PART: the tests of services/PART/tests or tests/PART
# `make help` lists the parts.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=true

case "${1:-}" in
  "") make test ;;
  lint) make lint ;;
  *) make "test-$1" ;;
esac
