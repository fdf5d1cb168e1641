"""Renders benchmarks/results/kgflag/README.md's table from the eval*/ files (today's
kg_recsys, kg_recsys_no_kg, the strongest baseline) and this folder's runs."""
import json
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
results = here.parent
ABLATIONS = {"kg_recsys", "kg_recsys_no_kg", "kg_recsys_no_text", "kg_recsys_no_gnn"}


def load(path):
    return json.loads(path.read_text()) if path.exists() else None


def cell(models, name):
    m = (models or {}).get(name)
    return (m["recall@20"], m["ndcg@20"]) if m else None


def fmt(v):
    return "-" if v is None else f"{v[0]:.4f} / {v[1]:.4f}"


rows = []
for dataset, protocol in [("ml-100k-kg", "cold-item"), ("ml-100k-kg", "warm"),
                          ("ml-100k-kg-relinked", "cold-item"), ("ml-100k-kg-relinked", "warm"),
                          ("lastfm-kg", "cold-item")]:
    per_seed = []
    for seed in (0, 1, 2):
        name = f"{dataset}_{protocol}"
        old = load(results / ("eval" if seed == 0 else f"eval-seed{seed}") / f"{name}.json")
        new = load(here / f"{name}-seed{seed}.json")
        nokg = load(here / "nokg" / f"{name}-seed{seed}.json")
        if new is None:
            continue
        assert old["split"] == new["split"], (name, seed)
        if nokg is not None:
            assert nokg["split"] == old["split"], (name, seed)
        base = {k: v for k, v in old["models"].items() if k not in ABLATIONS}
        best = max(base, key=lambda k: base[k]["recall@20"])
        r = {"default": cell(old["models"], "kg_recsys"),
             "no_kg": cell(old["models"], "kg_recsys_no_kg") or cell(nokg and nokg["models"], "kg_recsys_no_kg"),
             "no_gnn": cell(old["models"], "kg_recsys_no_gnn"), "best": cell(base, best), "best_name": best, "new": cell(new["models"], "kg_recsys"),
             "fit_s": new["seconds"]["kg_recsys"]["fit"], "gates": new.get("training", {})}
        per_seed.append(r)
        rows.append((f"{dataset} {protocol}", str(seed), r))
    if len(per_seed) > 1:
        mean = {}
        for key in ("default", "no_kg", "no_gnn", "best", "new"):
            vals = [r[key] for r in per_seed if r[key] is not None]
            mean[key] = None if len(vals) < len(per_seed) else tuple(sum(v[i] for v in vals) / len(vals) for i in (0, 1))
        mean["best_name"] = ""
        rows.append((f"{dataset} {protocol}", "mean", mean))

out = ["| protocol | seed | kg_recsys today | no-KG ablation | no-GNN ablation | strongest baseline | gates + no entity ids |"
       " new >= today | new >= no-KG |", "|---|---|---|---|---|---|---|---|---|"]
for proto, seed, r in rows:
    ge = lambda a, b: "-" if a is None or b is None else ("yes" if a[0] >= b[0] else "**no**")
    best = fmt(r["best"]) + (f" ({r['best_name']})" if r["best_name"] else "")
    out.append(f"| {proto} | {seed} | {fmt(r['default'])} | {fmt(r['no_kg'])} | {fmt(r['no_gnn'])} | {best} | {fmt(r['new'])} |"
               f" {ge(r['new'], r['default'])} | {ge(r['new'], r['no_kg'])} |")
print("\n".join(out))
