"""The wheel travels: built from the package folders alone, installed outside the checkout, its
``kgrec`` ingests the demo data, trains, recommends and exports, and every file the library reads
at run time is found inside the installed package.

``kgrec demo --no-eval`` runs the same pipeline, but with the text model on a cold text cache it
took 90 s here; ``kgrec train demo`` with a small config (no text, one epoch) is the cheapest
equivalent.

The wheel is installed with ``pip install --no-deps --target SITE`` and run by this
interpreter with ``PYTHONPATH=SITE`` from a folder outside the checkout: its dependencies
(torch, PyG...) come from this environment, while ``kg_recsys`` and ``ingest`` can only come
from the wheel (``PYTHONPATH`` precedes site-packages and any editable install), which the
test checks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Small and fast: the test is about what the wheel holds, not about the model.
FAST_CONFIG = """
[train]
epochs = 1
progress = false
[model]
use_text = false
[rank]
epochs = 1
members = 1
"""

CHECK = """
import json, sys
import ingest, kg_recsys
from kg_recsys import neo4j_server
from kg_recsys.assets import asset
from kg_recsys.store.neo4j import CONSTRAINTS_FILE
from kg_recsys.store.rdf import ONTOLOGY_FILE
try:
    ingest.resolve_data_dir()
    data_dir_error = None
except ingest.IngestError as error:
    data_dir_error = str(error)
copied = neo4j_server._sync_sources(neo4j_server.server_dir())
print(json.dumps({
    "kg_recsys": kg_recsys.__file__, "ingest": ingest.__file__,
    "constraints": str(CONSTRAINTS_FILE), "constraints_text": CONSTRAINTS_FILE.read_text(),
    "ontology": str(ONTOLOGY_FILE), "ontology_text": ONTOLOGY_FILE.read_text(),
    "server": {name: data.decode() for name, data in neo4j_server.server_files().items()},
    "server_sources": str(asset("neo4j-server")), "copied": [str(p) for p in copied],
    "data_dir_error": data_dir_error,
}))
"""


def _run(command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_wheel_installed_outside_the_checkout_runs_the_demo(tmp_path):
    # Build from a copy of what the wheel is made of, so nothing else of the checkout can leak in.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "target")
    for name in ("kg_recsys", "ingest"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "KGREC_DATA_DIR", "KGREC_NEO4J_STATE")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
          str(tmp_path / "wheel"), str(source)], tmp_path, env)
    wheel, = (tmp_path / "wheel").glob("kg_recsys-*.whl")
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site), str(wheel)],
         tmp_path, env)

    work = tmp_path / "work"  # outside the checkout, and no copy of it
    work.mkdir()
    env = {**env, "PYTHONPATH": str(site), "KGREC_NEO4J_STATE": str(work / "neo4j")}
    found = json.loads(_run([sys.executable, "-c", CHECK], work, env).stdout)
    for module in ("kg_recsys", "ingest"):
        assert Path(found[module]).is_relative_to(site), f"{module} imported from {found[module]}, not the wheel"
    for asset in ("constraints", "ontology", "server_sources"):
        assert Path(found[asset]).is_relative_to(site / "kg_recsys" / "assets"), found[asset]
    assert found["constraints_text"] == (ROOT / "kg_recsys/assets/constraints.cypher").read_text()
    assert found["ontology_text"] == (ROOT / "kg_recsys/assets/ontology.ttl").read_text()
    server = ROOT / "kg_recsys/assets/neo4j-server"
    expected = {str(p.relative_to(server)): p.read_text() for p in server.rglob("*")
                if p.is_file() and "target" not in p.relative_to(server).parts}
    assert found["server"] == expected and {"pom.xml", "jvm.options"} <= expected.keys()
    assert all(Path(p).is_relative_to(work / "neo4j" / "server") and Path(p).is_file() for p in found["copied"])
    assert "KGREC_DATA_DIR" in found["data_dir_error"]  # no data folder guessed beside the package

    kgrec = [sys.executable, str(site / "bin" / "kgrec")]  # the wheel's own entry point
    (work / "fast.toml").write_text(FAST_CONFIG)
    store = ["--store", "memory:graph"]
    _run([*kgrec, "train", "demo", *store, "--model-dir", "model", "--config", "fast.toml", "--no-progress"],
         work, env)
    assert (work / "model" / "index.npz").is_file()
    shown = _run([*kgrec, "recommend", "u001", *store, "--model-dir", "model", "--k", "3"], work, env).stdout
    assert "u001" in shown
    _run([*kgrec, "export", *store, "--out", "graph.ttl"], work, env)
    assert (work / "graph.ttl").stat().st_size > 1000
