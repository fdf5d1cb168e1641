"""kg-recsys under other settings against the tables' runs of the same splits.

    python experiments/compare_config.py experiments/results/rank-draws1 [DEFAULT_RUNS]

FOLDER holds ``kgrec evaluate --models kg_recsys --config FILE.toml`` results named
``<table name>-seed<N>.json`` (the table names are those of ``benchmarks/results/eval``).
Each was written, for example, by::

    kgrec evaluate ml-100k-kg --protocol warm --seed 1 --models kg_recsys \\
        --config experiments/configs/rank-draws1.toml --out experiments/results/rank-draws1/ml-100k-kg_warm-seed1.json

Each is set against the default run of the same split (``eval`` for seed 0,
``eval-seedN`` otherwise, in DEFAULT_RUNS, by default ``benchmarks/results``; the splits
must be equal) and that run's strongest baseline
(LightGCN on warm, as the bar reads). Prints a markdown table: Recall@K per seed with the
relative lead, the mean lead (ratio of the means, as ``benchmarks/render_results.py``) and the
default's mean lead over the same seeds.

An ablation run under the same settings (``--models kg_recsys_no_gnn --merge`` into the same
file) gets a row of its own, set against the same baseline and the default run's ablation.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # render_results builds the accuracy tables and stays there
from render_results import lead_of_means, strongest_baseline  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"  # the tables' runs: eval, eval-seedN
EXPERIMENT_RESULTS = Path(__file__).resolve().parent / "results"  # these scripts' own runs


def table_file(results: Path, name: str, seed: int) -> Path:
    """The tables' result file of ``name`` on ``seed``'s split: ``eval`` or ``eval-seedN``."""
    return results / ("eval" if seed == 0 else f"eval-seed{seed}") / f"{name}.json"


def config_run_files(folder: Path) -> list[tuple[Path, str, int]]:
    """``(file, table name, seed)`` of each ``<name>-seed<N>.json`` in ``folder``."""
    found = []
    for file in sorted(folder.glob("*-seed*.json")):
        name, seed = file.stem.rsplit("-seed", 1)
        found.append((file, name, int(seed)))
    return found


def table_run(results: Path, name: str, seed: int) -> dict:
    """The tables' run of ``name`` on ``seed``'s split (see :func:`table_file`)."""
    return json.loads(table_file(results, name, seed).read_text())


def bar_baseline(result: dict) -> tuple[str, float]:
    """The baseline the bar reads in ``result``: LightGCN on warm, else the strongest."""
    key = f"recall@{result['k']}"
    if result["protocol"] == "warm":
        return "lightgcn", result["models"]["lightgcn"][key]
    found = strongest_baseline(result)
    if found is None:
        raise SystemExit(f"{result['dataset']} {result['protocol']}: no baseline in the default run")
    return found


def main(folder: str, results: Path = RESULTS) -> None:
    """``results`` holds the default runs (``eval``, ``eval-seedN``)."""
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for file, name, seed in config_run_files(Path(folder)):
        runs[name][seed] = json.loads(file.read_text())
    if not runs:
        raise SystemExit(f"{folder}: no <name>-seed<N>.json files")
    seeds = sorted({s for by_seed in runs.values() for s in by_seed})
    print("| protocol | " + " | ".join(f"seed {s}" for s in seeds) + " | mean relative | default, same seeds |")
    print("|---|" + "---:|" * (len(seeds) + 2))
    for name, by_seed in runs.items():
        # kg-recsys first, then any ablation run under the same settings (merged into the file).
        models = list(dict.fromkeys(m for run in by_seed.values() for m in run["models"]))
        for model in sorted(models, key=lambda m: m != "kg_recsys"):
            print(_row(name, model, by_seed, seeds, results))


def _row(name: str, model: str, by_seed: dict[int, dict], seeds: list[int], results: Path) -> str:
    """One table row: ``model`` on the ``name`` splits, per seed and on average."""
    label = name if model == "kg_recsys" else f"{name}, {model}"
    cells, ours, default, base = [], [], [], []
    for seed in seeds:
        if seed not in by_seed or model not in by_seed[seed]["models"]:
            cells.append("")
            continue
        run, reference = by_seed[seed], table_run(results, name, seed)
        if run["split"] != reference["split"]:
            raise SystemExit(f"{label} seed {seed}: the split differs from the default run's")
        if model not in reference["models"]:
            raise SystemExit(f"{label} seed {seed}: the default run has no {model} to compare with")
        key = f"recall@{run['k']}"
        recall, (_, baseline) = run["models"][model][key], bar_baseline(reference)
        cells.append(f"{recall:.4f} ({(recall / baseline - 1) * 100:+.2f}%)")
        ours.append(recall)
        default.append(reference["models"][model][key])
        base.append(baseline)
    return (f"| {label} | " + " | ".join(cells) +
            f" | {lead_of_means(ours, base):+.2f}% | {lead_of_means(default, base):+.2f}% |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(EXPERIMENT_RESULTS / "rank-draws1"),
         Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS)
