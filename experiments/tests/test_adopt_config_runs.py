"""Runs under another config become the tables' rows once that config is the default."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from kg_recsys import RecommenderConfig

EXPERIMENTS = Path(__file__).resolve().parents[1]
sys.path.append(str(EXPERIMENTS))  # the scripts import their neighbour compare_config (which adds benchmarks/)
spec = importlib.util.spec_from_file_location("adopt_config_runs", EXPERIMENTS / "adopt_config_runs.py")
adopt_config_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adopt_config_runs)

DEFAULT_DRAWS = RecommenderConfig().rank.draws
OLD = RecommenderConfig.from_dict({"rank": {"draws": DEFAULT_DRAWS + 1}})


def _result(seed: int, models: dict[str, float], config=None, split_size: int = 10) -> dict:
    return {"dataset": "x", "protocol": "warm", "k": 20, "seed": seed, "split": {"test_users": split_size},
            "config": config, "models": {name: {"recall@20": recall} for name, recall in models.items()},
            "seconds": {name: {"fit": 1.0, "score": 0.5} for name in models}}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_kg_recsys_rows_move_in_and_the_old_ones_move_out(tmp_path):
    results, runs, old = tmp_path / "results", tmp_path / "runs", tmp_path / "old"
    _write(results / "eval" / "x_warm.json",
           _result(0, {"kg_recsys": 0.30, "kg_recsys_no_gnn": 0.28, "lightgcn": 0.25}))
    _write(results / "eval-seed1" / "x_warm.json", _result(1, {"kg_recsys": 0.20, "lightgcn": 0.22}))
    # Written when these settings were not yet the defaults: recorded as they are now.
    recorded = {"rank": {"draws": DEFAULT_DRAWS}}
    _write(runs / "x_warm-seed0.json", _result(0, {"kg_recsys": 0.33, "kg_recsys_no_gnn": 0.29}, recorded))
    _write(runs / "x_warm-seed1.json", _result(1, {"kg_recsys": 0.24}, recorded))

    report = adopt_config_runs.adopt(runs, old, OLD, results)

    assert report == ["eval/x_warm.json: kg_recsys, kg_recsys_no_gnn from x_warm-seed0.json",
                      "eval-seed1/x_warm.json: kg_recsys from x_warm-seed1.json"]
    table = _read(results / "eval" / "x_warm.json")
    assert {m: row["recall@20"] for m, row in table["models"].items()} == \
        {"kg_recsys": 0.33, "kg_recsys_no_gnn": 0.29, "lightgcn": 0.25}
    assert table["config"] is None
    displaced = _read(old / "x_warm-seed0.json")
    assert {m: row["recall@20"] for m, row in displaced["models"].items()} == {"kg_recsys": 0.30, "kg_recsys_no_gnn": 0.28}
    assert displaced["config"] == {"rank": {"draws": DEFAULT_DRAWS + 1}} and displaced["split"] == table["split"]
    assert set(displaced["seconds"]) == {"kg_recsys", "kg_recsys_no_gnn"}
    assert _read(old / "x_warm-seed1.json")["models"] == {"kg_recsys": {"recall@20": 0.20}}


@pytest.mark.parametrize("problem, message", [
    ("settings", "not the defaults"),
    ("split", "split differs"),
    ("ablation", "has no kg_recsys_no_kg"),
    ("model seed", "--model-seed 100"),
])
def test_a_run_that_does_not_fit_is_refused_and_nothing_is_written(tmp_path, problem, message):
    results, runs, old = tmp_path / "results", tmp_path / "runs", tmp_path / "old"
    _write(results / "eval" / "x_warm.json", _result(0, {"kg_recsys": 0.30, "lightgcn": 0.25}))
    _write(results / "eval" / "y_warm.json", _result(0, {"kg_recsys": 0.30, "lightgcn": 0.25}))
    _write(runs / "x_warm-seed0.json", _result(0, {"kg_recsys": 0.33}))  # fine: checked first
    bad = {"settings": _result(0, {"kg_recsys": 0.33}, {"rank": {"draws": DEFAULT_DRAWS + 5}}),
           "split": _result(0, {"kg_recsys": 0.33}, split_size=11),
           "ablation": _result(0, {"kg_recsys_no_kg": 0.33}),
           "model seed": {**_result(0, {"kg_recsys": 0.33}), "model_seed": 100}}[problem]
    _write(runs / "y_warm-seed0.json", bad)
    before = _read(results / "eval" / "x_warm.json")
    with pytest.raises(SystemExit, match=message):
        adopt_config_runs.adopt(runs, old, OLD, results)
    assert _read(results / "eval" / "x_warm.json") == before
    assert not old.exists()
