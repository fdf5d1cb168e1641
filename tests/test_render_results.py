"""The results renderer: a bar is judged against the strongest baseline of each seed."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "render_results.py"
spec = importlib.util.spec_from_file_location("render_results", SCRIPT)
render_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_results)


def _result(seed: int, ours: float, popularity: float, lightgcn: float) -> dict:
    metrics = lambda recall: {m: recall for m in ("recall@20", "ndcg@20", "hit@20", "mrr@20",  # noqa: E731
                                                  "precision@20", "coverage@20")}
    return {"protocol": "warm", "k": 20, "seed": seed,
            "models": {"kg_recsys": metrics(ours), "popularity": metrics(popularity), "lightgcn": metrics(lightgcn)}}


def test_seed_table_compares_with_each_seeds_strongest_baseline_and_the_mean(tmp_path, capsys):
    for seed, row in enumerate([(0.12, 0.10, 0.05), (0.09, 0.06, 0.10)]):
        folder = tmp_path / ("eval" if seed == 0 else f"eval-seed{seed}")
        folder.mkdir()
        (folder / "x_warm.json").write_text(json.dumps(_result(seed, *row)))
    render_results.main([str(tmp_path / "eval"), str(tmp_path / "eval-seed1")])
    out = capsys.readouterr().out
    assert "| 0 | 0.1200 | popularity 0.1000 | +20.00% |" in out
    assert "| 1 | 0.0900 | lightgcn 0.1000 | -10.00% |" in out
    # Means of kg-recsys (0.105) and of each seed's strongest baseline (0.10).
    assert "| mean | 0.1050 | 0.1000 | +5.00% |" in out
    assert "kg_recsys vs the strongest baseline (popularity) on recall@20: +20.00% relative." in out
