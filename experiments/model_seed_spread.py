"""How far the training's own randomness moves kg-recsys on one split.

    python experiments/model_seed_spread.py experiments/results/model-seeds

FOLDER holds ``kgrec evaluate --model-seed M`` results named
``<table name>-seed<N>-model<M>.json`` (the table names are those of
``benchmarks/results/eval``): kg-recsys fitted on split N from model seed M. Each was
written, for example, by::

    kgrec evaluate douban-cdr --protocol cross-scenario --source-scenario music --target-scenario book \\
        --seed 1 --model-seed 101 --models kg_recsys \\
        --out experiments/results/model-seeds/douban-cdr_music-book-seed1-model101.json

The tables' own run of the split (model seed = split seed) joins them as one more fit. Each
fit is set against the strongest baseline of the tables' run (LightGCN on warm, as the bar
reads); a LightGCN merged into the fit's file (``--models lightgcn --merge``, same model
seed) replaces the table's, so that warm compares fits from the same seeds. Prints a
markdown table: per split, each fit's Recall@K and lead, and the lead of the fits' mean;
per protocol, the lead over all its fits (ratio of the means, as ``benchmarks/render_results.py``).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from compare_config import EXPERIMENT_RESULTS, RESULTS, bar_baseline, table_run  # also puts benchmarks/ on sys.path
from render_results import lead_of_means


def spread_files(folder: Path) -> list[tuple[Path, str, int, int]]:
    """``(file, table name, split seed, model seed)`` of each ``<name>-seed<N>-model<M>.json``."""
    found = []
    for file in sorted(folder.glob("*-seed*-model*.json")):
        name, seeds = file.stem.rsplit("-seed", 1)
        split_seed, model_seed = seeds.split("-model")
        found.append((file, name, int(split_seed), int(model_seed)))
    return found


def _fit(run: dict, reference: dict) -> tuple[float, float]:
    """``(kg-recsys recall, baseline recall)`` of one fit."""
    key = f"recall@{run['k']}"
    name, baseline = bar_baseline(reference)
    if name in run["models"]:  # fitted from the same model seed as kg-recsys
        baseline = run["models"][name][key]
    return run["models"]["kg_recsys"][key], baseline


def spread_table(folder: Path, results: Path = RESULTS) -> str:
    fits: dict[str, dict[int, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for file, name, split_seed, model_seed in spread_files(folder):
        fits[name][split_seed][model_seed] = json.loads(file.read_text())
    if not fits:
        raise SystemExit(f"{folder}: no <name>-seed<N>-model<M>.json files")
    lines = ["| protocol | split | baseline | fits: model seed, Recall@20 (lead) | lead of the mean |",
             "|---|---:|---|---|---:|"]
    for name, by_split in fits.items():
        every_ours, every_base = [], []
        for split_seed in sorted(by_split):
            reference = table_run(results, name, split_seed)
            runs = {split_seed: reference, **by_split[split_seed]}
            cells, ours, base = [], [], []
            for model_seed in sorted(runs):
                run = runs[model_seed]
                if run["split"] != reference["split"]:
                    raise SystemExit(f"{name} seed {split_seed} model {model_seed}: the split differs from the "
                                     "tables' run")
                recall, baseline = _fit(run, reference)
                cells.append(f"{model_seed}: {recall:.4f} ({(recall / baseline - 1) * 100:+.1f}%)")
                ours.append(recall)
                base.append(baseline)
            lines.append(f"| {name} | {split_seed} | {bar_baseline(reference)[0]} | {', '.join(cells)} | "
                         f"{lead_of_means(ours, base):+.2f}% |")
            every_ours += ours
            every_base += base
        lines.append(f"| {name} | all {len(every_ours)} fits | | | "
                     f"**{lead_of_means(every_ours, every_base):+.2f}%** |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(spread_table(Path(sys.argv[1] if len(sys.argv) > 1 else EXPERIMENT_RESULTS / "model-seeds"),
                       Path(sys.argv[2]) if len(sys.argv) > 2 else RESULTS))
