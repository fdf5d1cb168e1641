"""The model-seed spread: fits of one split from several model seeds, against the bar's baseline."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1]
sys.path.append(str(EXPERIMENTS))  # the scripts import their neighbour compare_config (which adds benchmarks/)
spec = importlib.util.spec_from_file_location("model_seed_spread", EXPERIMENTS / "model_seed_spread.py")
model_seed_spread = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_seed_spread)


def _result(protocol: str, seed: int, models: dict[str, float], split_size: int = 10, model_seed=None) -> dict:
    result = {"dataset": "x", "protocol": protocol, "k": 20, "seed": seed, "split": {"test_users": split_size},
              "models": {name: {"recall@20": recall} for name, recall in models.items()}}
    return result if model_seed is None else {**result, "model_seed": model_seed}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def test_each_fit_is_set_against_the_bars_baseline_and_the_tables_run_is_one_of_them(tmp_path):
    results, folder = tmp_path / "results", tmp_path / "fits"
    _write(results / "eval" / "x_warm.json", _result("warm", 0, {"kg_recsys": 0.30, "lightgcn": 0.25, "popularity": 0.4}))
    _write(results / "eval-seed1" / "x_warm.json", _result("warm", 1, {"kg_recsys": 0.20, "lightgcn": 0.25}))
    _write(results / "eval" / "x_cold-item.json", _result("cold-item", 0, {"kg_recsys": 0.3, "kg_only": 0.2}))
    # A LightGCN fitted from the same model seed replaces the table's; without one, the table's counts.
    _write(folder / "x_warm-seed0-model100.json", _result("warm", 0, {"kg_recsys": 0.33, "lightgcn": 0.30}, model_seed=100))
    _write(folder / "x_warm-seed1-model101.json", _result("warm", 1, {"kg_recsys": 0.30}, model_seed=101))
    _write(folder / "x_cold-item-seed0-model100.json", _result("cold-item", 0, {"kg_recsys": 0.1}, model_seed=100))
    rows = model_seed_spread.spread_table(folder, results).splitlines()[2:]
    assert rows == [
        "| x_cold-item | 0 | kg_only | 0: 0.3000 (+50.0%), 100: 0.1000 (-50.0%) | +0.00% |",
        "| x_cold-item | all 2 fits | | | **+0.00%** |",
        "| x_warm | 0 | lightgcn | 0: 0.3000 (+20.0%), 100: 0.3300 (+10.0%) | +14.55% |",
        "| x_warm | 1 | lightgcn | 1: 0.2000 (-20.0%), 101: 0.3000 (+20.0%) | +0.00% |",
        # (0.30 + 0.33 + 0.20 + 0.30) / (0.25 + 0.30 + 0.25 + 0.25)
        "| x_warm | all 4 fits | | | **+7.62%** |",
    ]


def test_a_fit_of_another_split_is_refused(tmp_path):
    results, folder = tmp_path / "results", tmp_path / "fits"
    _write(results / "eval" / "x_warm.json", _result("warm", 0, {"kg_recsys": 0.3, "lightgcn": 0.25}))
    _write(folder / "x_warm-seed0-model7.json", _result("warm", 0, {"kg_recsys": 0.3}, split_size=11, model_seed=7))
    with pytest.raises(SystemExit, match="split differs"):
        model_seed_spread.spread_table(folder, results)
    with pytest.raises(SystemExit, match="no <name>"):
        model_seed_spread.spread_table(tmp_path / "empty", results)


def test_the_model_seed_table_of_the_experiments_readme_is_this_scripts_output_on_the_committed_results():
    table = model_seed_spread.spread_table(model_seed_spread.EXPERIMENT_RESULTS / "model-seeds",
                                           model_seed_spread.EXPERIMENT_RESULTS / "rank-draws3").splitlines()
    readme = [line.strip() for line in (EXPERIMENTS / "README.md").read_text().splitlines()]
    assert len(table) > 2 and [line for line in table if line not in readme] == []
