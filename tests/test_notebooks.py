"""The notebooks in git are exactly what notebooks/build_notebooks.py writes: no outputs.
(They are executed by ``pytest --nbmake notebooks``, which scripts/test.sh runs.)"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_notebooks_are_built_and_cleared(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    built = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert built == ["01_quickstart.ipynb", "02_cold_start_and_cross_scenario.ipynb", "03_cypher_inspection.ipynb",
                     "04_real_data_ml100k.ipynb"]
    for name in built:
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert committed == nbformat.read(tmp_path / name, as_version=4), f"{name} is stale: rebuild it"
        for cell in committed.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs"


def test_the_real_data_notebook_is_skipped_with_a_message_where_the_data_is_not(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KGREC_DATA_DIR": str(tmp_path / "nowhere")}
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-rs", "-q", "-p", "no:cacheprovider",
                          str(NOTEBOOKS / "04_real_data_ml100k.ipynb")], env=env, capture_output=True, text=True,
                         cwd=NOTEBOOKS.parent, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert f"ml-100k-kg not found in {tmp_path / 'nowhere'}: set KGREC_DATA_DIR" in run.stdout
