#!/usr/bin/env bash
# The README's second command (and CI's): set up everything, lint, run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -m unit, scripts/test.sh -k gate).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/bootstrap.sh"
cd "$REPO_ROOT"
echo "[test] ruff check"
ruff check .
ruff format --check .
echo "[test] pytest"
exec python -m pytest "$@"
