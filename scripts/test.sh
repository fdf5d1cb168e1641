#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv if missing, installs the package with
# its test extras, builds the docs site (docs/, warnings are errors), builds and starts the
# project's Neo4j (kgrec neo4j build: the Maven project shipped in kg_recsys/assets, built under
# .kgrec/neo4j), runs pytest over tests/, and stops Neo4j again on exit. Fails if anything
# fails, the docs build and Neo4j's start included.
#
#   bash scripts/test.sh [PYTEST ARGS...]     (default: tests notebooks --nbmake)
#
# Environment: KGREC_NEO4J_PASSWORD (default kgrec-test-password), KGREC_NEO4J_URI (default
# bolt://127.0.0.1:7687), KGREC_DATA_DIR (the real data sets, default ../shared/data beside the
# checkout), PYTHON (interpreter for a new .venv, default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    echo "== creating .venv"
    "${PYTHON:-python3}" -m venv .venv
fi
echo "== installing kg-recsys with test extras"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

export KGREC_NEO4J_PASSWORD="${KGREC_NEO4J_PASSWORD:-kgrec-test-password}"
export KGREC_NEO4J_URI="${KGREC_NEO4J_URI:-bolt://127.0.0.1:7687}"
export KGREC_DATA_DIR="${KGREC_DATA_DIR:-$(cd .. && pwd)/shared/data}"
port="${KGREC_NEO4J_URI##*:}"
port="${port%%/*}"

echo "== docs site (Sphinx, warnings are errors)"
# -E: read every page again, so a warning of an unchanged page is never hidden by the cache.
.venv/bin/python -m sphinx -E -W --keep-going -b html docs docs/_build/html -q

echo "== building the Neo4j server (Maven)"
.venv/bin/kgrec neo4j build

if .venv/bin/kgrec neo4j status >/dev/null; then
    echo "== Neo4j already running; using it and leaving it running"
else
    echo "== starting Neo4j on port ${port}"
    # Stop it however this script ends (tests failing included); the exit status is kept.
    trap '.venv/bin/kgrec neo4j stop >/dev/null || echo "warning: could not stop Neo4j" >&2' EXIT
    .venv/bin/kgrec neo4j start --port "${port}" --http-port 0 --timeout 300
fi

echo "== pytest"
if [[ $# -eq 0 ]]; then set -- tests notebooks --nbmake; fi  # notebooks/*.ipynb run via nbmake
.venv/bin/python -m pytest -q "$@"
