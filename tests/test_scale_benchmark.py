"""benchmarks/scale.py runs end to end at a tiny size and renders its table and plot."""
import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
spec = importlib.util.spec_from_file_location("scale", BENCHMARKS / "scale.py")
scale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scale)


def test_one_tiny_size_is_measured_and_rendered(tmp_path):
    run = scale.run_size(0.002)  # about 80 users
    assert run["users"] == 83 and run["items"] == 110
    assert run["interactions"] > 10 * run["users"]  # the generator's ~24 per user
    assert run["relationships"] > run["interactions"]  # KG, links and profiles too
    assert 0 < run["recommend_p50_ms"] <= run["recommend_p99_ms"]
    assert run["stage_seconds"]["gnn"] > 0 and run["peak_rss_mib"] > 0
    bigger = dict(run, users=830, interactions=10 * run["interactions"])
    scale.render({"0.002M": run, "0.02M": bigger}, tmp_path / "scale")
    table = (tmp_path / "scale.md").read_text()
    assert table.index("| 0.002M |") < table.index("| 0.02M |")  # sorted by size
    assert (tmp_path / "scale.png").stat().st_size > 10_000
