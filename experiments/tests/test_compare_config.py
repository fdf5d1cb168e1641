"""The settings comparison: another config's kg-recsys against the default run of each split."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1]
sys.path.append(str(EXPERIMENTS))  # the scripts import their neighbour compare_config (which adds benchmarks/)
spec = importlib.util.spec_from_file_location("compare_config", EXPERIMENTS / "compare_config.py")
compare_config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_config)


def _result(protocol: str, seed: int, models: dict[str, float], split_size: int = 10) -> dict:
    return {"dataset": "x", "protocol": protocol, "k": 20, "seed": seed, "split": {"test_users": split_size},
            "models": {name: {"recall@20": recall} for name, recall in models.items()}}


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def test_each_seed_is_set_against_its_default_runs_baseline(tmp_path, capsys):
    results, other = tmp_path / "results", tmp_path / "other"
    # Warm reads against LightGCN even where popularity is stronger; other protocols
    # against the strongest baseline.
    _write(results / "eval" / "x_warm.json", _result("warm", 0, {"kg_recsys": 0.30, "lightgcn": 0.25, "popularity": 0.40}))
    _write(results / "eval-seed1" / "x_warm.json", _result("warm", 1, {"kg_recsys": 0.20, "lightgcn": 0.25}))
    _write(results / "eval" / "x_cold-item.json", _result("cold-item", 0, {"kg_recsys": 0.2, "kg_only": 0.1, "popularity": 0.05}))
    _write(other / "x_warm-seed0.json", _result("warm", 0, {"kg_recsys": 0.275}))
    _write(other / "x_warm-seed1.json", _result("warm", 1, {"kg_recsys": 0.30}))
    _write(other / "x_cold-item-seed0.json", _result("cold-item", 0, {"kg_recsys": 0.15}))
    compare_config.main(str(other), results)
    out = capsys.readouterr().out
    # Means: ours (0.275 + 0.30) / 2 against LightGCN's 0.25; the default's (0.30 + 0.20) / 2.
    assert "| x_warm | 0.2750 (+10.00%) | 0.3000 (+20.00%) | +15.00% | +0.00% |" in out
    assert "| x_cold-item | 0.1500 (+50.00%) |  | +50.00% | +100.00% |" in out


def test_a_run_of_another_split_is_refused(tmp_path):
    results, other = tmp_path / "results", tmp_path / "other"
    _write(results / "eval" / "x_warm.json", _result("warm", 0, {"kg_recsys": 0.3, "lightgcn": 0.25}))
    _write(other / "x_warm-seed0.json", _result("warm", 0, {"kg_recsys": 0.3}, split_size=11))
    with pytest.raises(SystemExit, match="split differs"):
        compare_config.main(str(other), results)


def test_an_ablation_in_the_file_gets_its_own_row_against_the_default_ablation(tmp_path, capsys):
    results, other = tmp_path / "results", tmp_path / "other"
    _write(results / "eval" / "x_cold-item.json",
           _result("cold-item", 0, {"kg_recsys": 0.2, "kg_recsys_no_gnn": 0.12, "popularity": 0.1}))
    _write(other / "x_cold-item-seed0.json", _result("cold-item", 0, {"kg_recsys_no_gnn": 0.15, "kg_recsys": 0.25}))
    compare_config.main(str(other), results)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| x_")]
    assert rows == ["| x_cold-item | 0.2500 (+150.00%) | +150.00% | +100.00% |",
                    "| x_cold-item, kg_recsys_no_gnn | 0.1500 (+50.00%) | +50.00% | +20.00% |"]


def test_an_ablation_the_default_run_lacks_is_refused(tmp_path):
    results, other = tmp_path / "results", tmp_path / "other"
    _write(results / "eval" / "x_cold-item.json", _result("cold-item", 0, {"kg_recsys": 0.2, "popularity": 0.1}))
    _write(other / "x_cold-item-seed0.json", _result("cold-item", 0, {"kg_recsys_no_kg": 0.15}))
    with pytest.raises(SystemExit, match="no kg_recsys_no_kg"):
        compare_config.main(str(other), results)


def test_the_ranker_draws_table_of_the_experiments_readme_is_this_scripts_output_on_the_committed_results(capsys):
    compare_config.main(str(compare_config.EXPERIMENT_RESULTS / "rank-draws1"),
                        compare_config.EXPERIMENT_RESULTS / "rank-draws3")
    table = capsys.readouterr().out.strip().splitlines()
    readme = (EXPERIMENTS / "README.md").read_text().splitlines()
    assert len(table) > 2 and [line for line in table if line not in readme] == []
