#!/usr/bin/env bash
# The main job on a fresh machine, on the embedded default store (no server, no ../shared):
# creates .venv if missing, installs kg-recsys, then runs `kgrec demo` (generate the demo
# dataset, ingest, train, evaluate cold-item against baselines, recommend, explain).
#
#   bash scripts/demo.sh [kgrec demo options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x .venv/bin/python ]]; then
    echo "== creating .venv"
    "${PYTHON:-python3}" -m venv .venv
fi
echo "== installing kg-recsys"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/kgrec demo "$@"
