#!/usr/bin/env bash
# Quickstart entry point: `./dev.sh main` (train + sample the char LM) or `./dev.sh test`.
# Creates .venv on first use and reuses it afterwards (re-installs only when pyproject.toml changes).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.seqkeras-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}  # hide TensorFlow start-up lines
case "${1:-}" in
  main) shift; exec .venv/bin/seqkeras train charlm "$@" ;;
  # -n 2: one worker per core; loadfile: a file per worker (module fixtures built once), the export
  # files sharing session fixtures as one unit, longest units first (tests/conftest.py).
  test) shift; exec .venv/bin/python -m pytest -q -n 2 --dist loadfile "$@" ;;
  *) echo "usage: ./dev.sh main|test [args...]" >&2; exit 2 ;;
esac
