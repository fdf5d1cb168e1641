"""Render the JSON files of ``kgrec evaluate`` as the markdown tables of
``benchmarks/results/accuracy.md`` (docs/results.md copies them).

    python benchmarks/render_results.py benchmarks/results/eval > benchmarks/results/accuracy.md

Further folders (``evaluate_all.sh --seed N`` writes ``benchmarks/results/eval-seedN``) add
a table per result found in several of them: kg-recsys against the strongest baseline on
each seed's split, and the mean, so a bar is not called on one draw.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

BASELINES = ["popularity", "bpr_mf", "lightgcn", "text_knn", "kg_only", "user_knn", "ease", "item_knn",
             "inductive_content"]
ORDER = ["kg_recsys", "kg_recsys_no_kg", "kg_recsys_no_text", "kg_recsys_no_gnn", *BASELINES]


def render(result: dict, name: str) -> str:
    k = result["k"]
    metrics = [f"recall@{k}", f"ndcg@{k}", f"hit@{k}", f"mrr@{k}", f"precision@{k}", f"coverage@{k}"]
    # Measured by newer runs only (novelty, the hybrid protocol's cold share, --ild): shown
    # where every model of the file has them.
    metrics += [m for m in (f"novelty@{k}", f"cold_share@{k}", f"ild@{k}")
                if all(m in row for row in result["models"].values())]
    models = sorted(result["models"], key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))
    title = f"### {result.get('dataset', name)}, {result['protocol']}"
    split = result.get("split", {})
    if split.get("source_scenario"):
        title += f" ({split['source_scenario']} -> {split['target_scenario']})"
    if split.get("cold_user_context") == 0:
        title += " (profile only)"
    lines = [title, "", f"{result.get('users', '?')} test users, {split.get('candidates', '?')} candidate items, "
             f"seed {result.get('seed', '?')}. "
             "Fit and score seconds on 2 CPU cores (one thread per run).", "",
             "| model | " + " | ".join(metrics) + " | fit s | score s |",
             "|---|" + "---:|" * (len(metrics) + 2)]
    # The best of each accuracy metric in bold (more novelty or cold share is not better).
    best = {m: max(result["models"][x][m] for x in models) for m in metrics[:6]}
    for model in models:
        row = result["models"][model]
        cells = [f"**{row[m]:.4f}**" if row[m] == best.get(m) else f"{row[m]:.4f}" for m in metrics]
        seconds = result.get("seconds", {}).get(model, {})
        lines.append(f"| {model} | " + " | ".join(cells) +
                     f" | {seconds.get('fit', float('nan')):.0f} | {seconds.get('score', float('nan')):.0f} |")
    ours = result["models"].get("kg_recsys", {}).get(f"recall@{k}")
    baseline = strongest_baseline(result)
    if ours is not None and baseline:
        strongest, recall = baseline
        gain = (ours / recall - 1) * 100 if recall > 0 else float("inf")
        lines += ["", f"kg_recsys vs the strongest baseline ({strongest}) on recall@{k}: {gain:+.2f}% relative."]
    return "\n".join(lines) + "\n"


def strongest_baseline(result: dict) -> tuple[str, float] | None:
    """The baseline with the best Recall@K in ``result``, and that recall."""
    key = f"recall@{result['k']}"
    base = {b: result["models"][b][key] for b in BASELINES if b in result["models"]}
    if not base:
        return None
    name = max(base, key=base.get)
    return name, base[name]


def lead_of_means(ours: list[float], base: list[float]) -> float:
    """The relative lead (%) of the mean of ``ours`` over the mean of ``base``: how every
    "mean relative" of the README and docs/results.md is counted (a ratio of means, not a
    mean of ratios)."""
    return (sum(ours) / len(ours) / (sum(base) / len(base)) - 1) * 100


def render_seeds(results: list[dict], name: str) -> str:
    """kg-recsys against the strongest baseline of each seed's run of one protocol."""
    key = f"recall@{results[0]['k']}"
    lines = [f"### {name}, over {len(results)} seeds", "",
             "Each seed draws its own split; every model is fitted again on it.", "",
             f"| seed | kg_recsys {key} | strongest baseline | relative |", "|---:|---:|---|---:|"]
    ours_all, base_all = [], []
    for result in sorted(results, key=lambda r: r.get("seed", 0)):
        ours, (base_name, base) = result["models"]["kg_recsys"][key], strongest_baseline(result)
        ours_all.append(ours)
        base_all.append(base)
        lines.append(f"| {result.get('seed', '?')} | {ours:.4f} | {base_name} {base:.4f} | {(ours / base - 1) * 100:+.2f}% |")
    ours_mean, base_mean = sum(ours_all) / len(ours_all), sum(base_all) / len(base_all)
    lines.append(f"| mean | {ours_mean:.4f} | {base_mean:.4f} | {lead_of_means(ours_all, base_all):+.2f}% |")
    return "\n".join(lines) + "\n"


def seed_runs(folders: list[Path]) -> dict[str, list[dict]]:
    """Per result name in the first folder: the runs of it in each folder (one per seed)
    that have kg-recsys and a baseline to set it against."""
    out = {}
    for file in sorted(folders[0].glob("*.json")):
        results = [json.loads(run.read_text()) for run in (folder / file.name for folder in folders) if run.exists()]
        out[file.stem] = [r for r in results if "kg_recsys" in r["models"] and strongest_baseline(r)]
    return out


def main(folders: list[str]) -> None:
    files = sorted(Path(folders[0]).glob("*.json"))
    print("# Accuracy results (generated by benchmarks/render_results.py)\n")
    for file in files:
        print(render(json.loads(file.read_text()), file.stem))
    if len(folders) > 1:
        for name, results in seed_runs([Path(folder) for folder in folders]).items():
            if len(results) > 1:
                print(render_seeds(results, name))


if __name__ == "__main__":
    main(sys.argv[1:] or ["benchmarks/results/eval"])
