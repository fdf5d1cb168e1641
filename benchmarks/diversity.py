"""The accuracy/diversity trade-off of ``[rank] diversity`` (MMR over the item vectors).

    python benchmarks/diversity.py [SOURCE] [--protocol warm] [--seed 0] [--data-dir DIR]
        [--weights 0,0.1,0.2,0.3,0.5,0.7] [--out benchmarks/results/diversity]

kg-recsys is fitted once on the split; the re-ranking runs after the ranker, so each weight
re-scores the same fit. For every weight it reports recall@20, ndcg@20, novelty@20,
intra-list diversity (ild@20, over the items' text vectors: one space for every weight)
and coverage@20, the same metrics as ``kgrec evaluate`` (the one harness), and EASE's and
popularity's for reference. Writes OUT.json, OUT.md and OUT.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", default="ml-100k-kg")
    parser.add_argument("--protocol", default="warm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--weights", default="0,0.1,0.2,0.3,0.5,0.7")
    parser.add_argument("--out", default="benchmarks/results/diversity")
    args = parser.parse_args()

    from ingest import load_snapshot
    from kg_recsys.evaluation import make_split
    from kg_recsys.evaluation.baselines import EASEScorer, PopularityScorer, default_text_vectors
    from kg_recsys.evaluation.harness import UserItems, fit_scorer, rank_metrics
    from kg_recsys.evaluation.kgrec_scorer import KGRecScorer
    from kg_recsys.schema import ITEM

    weights = [float(w) for w in args.weights.split(",")]
    snapshot = load_snapshot(args.source, data_dir=args.data_dir, progress=False)
    split = make_split(snapshot, args.protocol, args.seed)
    n_users = len(split.context.users)
    exclude, truth = UserItems(split.context.interactions, n_users), UserItems(split.test, n_users)
    counts = np.bincount(UserItems(split.train.interactions, n_users).items, minlength=len(split.context.items))
    text = default_text_vectors(split.context)[ITEM]
    users = split.test_users()

    def measure(scorer) -> dict:
        with torch.no_grad():
            metrics, _ = rank_metrics(lambda u, i: scorer.score(split.context, u, i), users, split.candidates,
                                      exclude, truth, args.k, seed=args.seed, item_counts=counts, item_vectors=text)
        return metrics

    rows, started = [], time.perf_counter()
    model = KGRecScorer(progress=False)
    fit_scorer(model, split, args.seed)
    fitted = time.perf_counter()
    base_config = model.config
    for weight in weights:
        model.config = dataclasses.replace(base_config, rank=dataclasses.replace(base_config.rank, diversity=weight))
        begin = time.perf_counter()
        rows.append({"model": "kg_recsys", "diversity": weight, **measure(model),
                     "score_seconds": round(time.perf_counter() - begin, 2)})
        print(json.dumps(rows[-1]), flush=True)
    for reference in (EASEScorer(), PopularityScorer()):
        fit_scorer(reference, split, args.seed)
        rows.append({"model": reference.name, "diversity": None, **measure(reference)})
        print(json.dumps(rows[-1]), flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"source": args.source, "protocol": args.protocol, "seed": args.seed, "k": args.k,
              "fit_seconds": round(fitted - started, 1), "load": os.getloadavg()[0], "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    k = args.k
    names = [f"recall@{k}", f"ndcg@{k}", f"novelty@{k}", f"ild@{k}", f"coverage@{k}"]
    lines = [f"# Accuracy against diversity: {args.source}, {args.protocol}, seed {args.seed}", "",
             f"`python benchmarks/diversity.py {args.source} --protocol {args.protocol} --seed {args.seed}`; "
             f"one kg-recsys fit ({record['fit_seconds']} s, load {record['load']:.1f}), re-ranked with each "
             "`[rank] diversity` weight (MMR over the item vectors, the top 100). ild is over the items' text "
             "vectors.", "",
             "| model | diversity | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for row in rows:
        weight = "" if row["diversity"] is None else f"{row['diversity']:g}"
        lines.append(f"| {row['model']} | {weight} | " + " | ".join(f"{row[n]:.4f}" for n in names) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(rows, k, out.with_suffix(".png"))
    print(f"wrote {out}.json, .md, .png")


def _plot(rows: list[dict], k: int, path: Path) -> None:
    """Recall against catalogue coverage and against intra-list diversity, one point per weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [row for row in rows if row["model"] == "kg_recsys"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, metric, label in ((axes[0], f"coverage@{k}", "catalogue coverage"),
                                (axes[1], f"ild@{k}", "intra-list diversity (text vectors)")):
        axis.plot([r[metric] for r in ours], [r[f"recall@{k}"] for r in ours], "o-", label="kg-recsys + MMR")
        for row in ours:
            axis.annotate(f"{row['diversity']:g}", (row[metric], row[f"recall@{k}"]), textcoords="offset points",
                          xytext=(4, 4), fontsize=8)
        for row in rows:
            if row["model"] != "kg_recsys":
                axis.plot(row[metric], row[f"recall@{k}"], "s", label=row["model"])
        axis.set_xlabel(f"{label} ({metric})")
    axes[0].set_ylabel(f"recall@{k}")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.suptitle("Accuracy against diversity (point labels: the MMR weight)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
