"""The accuracy plot shows the seed tables' numbers."""
import importlib.util
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.append(str(BENCHMARKS))  # the script imports its neighbour render_results
spec = importlib.util.spec_from_file_location("plot_results", BENCHMARKS / "plot_results.py")
plot_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_results)


def _write(folder: Path, name: str, seed: int, models: dict[str, float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(
        {"protocol": "cold-item", "k": 20, "seed": seed,
         "models": {model: {"recall@20": recall} for model, recall in models.items()}}))


def test_each_seed_against_its_strongest_baseline_and_the_lead_of_the_means(tmp_path):
    seed0, seed1 = tmp_path / "eval", tmp_path / "eval-seed1"
    _write(seed0, "x_cold-item", 0, {"kg_recsys": 0.30, "kg_only": 0.20, "popularity": 0.05})
    _write(seed1, "x_cold-item", 1, {"kg_recsys": 0.20, "popularity": 0.25, "kg_only": 0.10})
    _write(seed0, "y_cold-item", 0, {"popularity": 0.1})  # no kg_recsys: not plotted
    rows = plot_results.leads([seed0, seed1])
    assert list(rows) == ["x_cold-item"]
    per_seed, mean = rows["x_cold-item"]
    assert [round(v, 6) for v in per_seed] == [50.0, -20.0]
    assert round(mean, 6) == round((0.50 / 0.45 - 1) * 100, 6)  # ratio of the means, as the tables

    out = tmp_path / "plots" / "accuracy.png"
    plot_results.main([str(seed0), str(seed1), "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
