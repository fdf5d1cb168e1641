"""The cost curve: ingest, one training epoch, serving and peak RSS against graph size.

    python benchmarks/scale.py [--sizes 0.1,1,10] [--out benchmarks/results/scale]

For each size (millions of interactions) a child process (so its peak RSS is its own):

1. writes the demo generator's data set scaled to that size (users and items scaled alike,
   about 24 interactions per user; items, creators and KG triples grow with them);
2. ingests it into a fresh embedded store;
3. fits with text features off (encoding is linear in texts and measured by
   ``benchmarks/text_encoder.py``), one GNN epoch and one ranker epoch, so the stage times
   are the cost of one epoch of each at that size;
4. times single-user ``recommend(user, k=20)`` (with ranking) for 200 random users.

Writes ``OUT.json`` (runs are merged by size, so sizes can be run one at a time), ``OUT.md``
and ``OUT.png`` (each cost against interactions, log-log, beside a line of slope 1).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
import numpy as np
from ingest import ingest_source
from kg_recsys import MemoryStore, Recommender, RecommenderConfig
from kg_recsys.datasets.demo import write_demo_dataset

folder, users, items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
write_demo_dataset(folder + "/data", n_users=users, n_items=items)
generate = time.perf_counter() - start
store = MemoryStore()
start = time.perf_counter()
summary = ingest_source(folder + "/data", store, progress=False)
ingest = time.perf_counter() - start
config = RecommenderConfig.from_dict({"model": {"use_text": False},
                                      "train": {"epochs": 1, "progress": False}, "rank": {"epochs": 1}})
start = time.perf_counter()
recommender = Recommender(config).fit(store)
fit = time.perf_counter() - start
ids = recommender.index.user_ids
rng = np.random.default_rng(0)
latencies = []
for user in rng.choice(len(ids), size=min(200, len(ids)), replace=False):
    begin = time.perf_counter()
    recommender.recommend(ids[user], k=20)
    latencies.append((time.perf_counter() - begin) * 1e3)
latencies = np.asarray(latencies[5:])  # the first requests warm caches up
print(json.dumps({
    "interactions": int(summary.relationships.get("INTERACTED", 0)),
    "relationships": int(sum(summary.relationships.values())),
    "users": users, "items": items, "generate_s": round(generate, 1), "ingest_s": round(ingest, 1),
    "fit_s": round(fit, 1), "stage_seconds": recommender.timings,
    "recommend_p50_ms": round(float(np.percentile(latencies, 50)), 2),
    "recommend_p99_ms": round(float(np.percentile(latencies, 99)), 2),
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def run_size(millions: float) -> dict:
    """One size's costs, measured in a child process."""
    users = int(millions * 1e6 / 24)
    with tempfile.TemporaryDirectory() as work:
        done = subprocess.run([sys.executable, "-c", _CHILD, work, str(users), str(int(users * 4 / 3))],
                              check=True, capture_output=True, text=True)
    run = json.loads(done.stdout.strip().splitlines()[-1])
    run["load_average"] = [round(x, 1) for x in os.getloadavg()]
    return run


def render(results: dict, out: Path) -> None:
    rows = ["| size | interactions | users | items | ingest s | GNN epoch s | ranker epoch s | "
            "recommend p50 / p99 ms | peak RSS MiB | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run in sorted(results.items(), key=lambda kv: kv[1]["users"]):
        stages = run["stage_seconds"]
        rows.append(f"| {name} | {run['interactions']:,} | {run['users']:,} | {run['items']:,} | {run['ingest_s']} | "
                    f"{stages.get('gnn')} | {stages.get('ranker')} | {run['recommend_p50_ms']} / "
                    f"{run['recommend_p99_ms']} | {run['peak_rss_mib']:,} | {run['load_average'][0]} |")
    out.with_suffix(".md").write_text(
        "# The cost curve\n\n`python benchmarks/scale.py`: the demo generator scaled, a fresh embedded store, "
        "text off, one GNN epoch and one ranker epoch, single-user top-20 with ranking over 200 users. "
        "Each size in its own process; wall times on 2 shared cores, the last column is the 1-minute load "
        "average when the run ended.\n\n" + "\n".join(rows) + "\n\n![cost against interactions](scale.png)\n")
    plot(results, out.with_suffix(".png"))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(results.values(), key=lambda r: r["interactions"])
    x = [r["interactions"] for r in runs]
    panels = [("ingest s", [r["ingest_s"] for r in runs]),
              ("GNN epoch s", [r["stage_seconds"].get("gnn") for r in runs]),
              ("ranker epoch s", [r["stage_seconds"].get("ranker") for r in runs]),
              ("recommend p99 ms", [r["recommend_p99_ms"] for r in runs]),
              ("peak RSS MiB", [r["peak_rss_mib"] for r in runs])]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for axis, (label, y) in zip(axes, panels):
        axis.loglog(x, y, "o-", label="measured")
        # Linear growth from the smallest run: a cost on this line is linear in interactions.
        axis.loglog(x, [y[0] * xi / x[0] for xi in x], "--", color="grey", label="linear")
        axis.set_xlabel("interactions")
        axis.set_title(label)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.1,1,10", help="millions of interactions, comma-separated")
    parser.add_argument("--out", default="benchmarks/results/scale")
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    for size in args.sizes.split(","):
        name = f"{float(size):g}M"
        print(f"== {name}", flush=True)
        results[name] = run_size(float(size))
        print(json.dumps(results[name]), flush=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=2))
        render(results, out)


if __name__ == "__main__":
    main()
