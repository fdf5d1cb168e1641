"""The notebook run (``pytest --nbmake notebooks``): a notebook on a real data set is skipped,
with a message saying what to set, where that data set is not in the data folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("KGREC_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
#: notebook -> the data set it reads.
NEEDS_DATA = {"04_real_data_ml100k.ipynb": "ml-100k-kg"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        needed = NEEDS_DATA.get(Path(str(item.fspath)).name)
        if needed and not (DATA / needed).is_dir():
            item.add_marker(pytest.mark.skip(
                reason=f"{needed} not found in {DATA}: set KGREC_DATA_DIR to the folder of the real data sets"))
