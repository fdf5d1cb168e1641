"""Training cost with the defaults: `kgrec train` wall time per stage and peak RSS.

    python benchmarks/train_cost.py [--data-dir DIR] [--only ml-100k-kg,ml-1m,demo-0.1M,...]

Each run is its own process (so its peak RSS is its own), on a fresh embedded store:

- ``ml-100k-kg`` and ``ml-1m``: ``kgrec train NAME --data-dir DIR`` with the default config,
  run twice: the first fills the text cache (its text stage is the cold encoding time),
  the second is the one reported (text cache warm).
- ``demo-<N>M``: the demo generator scaled to about N million interactions (users and
  items scaled alike, about 24 interactions per user), fitted with the default config but
  text features off (encoding is linear in texts and measured above), to show how the
  GNN and the ranker grow with interactions.

Writes benchmarks/results/train_cost.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_DEMO_FIT = """
import json, resource, sys, time
from ingest import ingest_source
from kg_recsys import MemoryStore, Recommender, RecommenderConfig
from kg_recsys.datasets.demo import write_demo_dataset
folder, users, items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
write_demo_dataset(folder + "/data", n_users=users, n_items=items)
store = MemoryStore()
start = time.perf_counter()
ingest_source(folder + "/data", store, progress=False)
ingest = time.perf_counter() - start
config = RecommenderConfig.from_dict({"model": {"use_text": False}, "train": {"progress": False}})
start = time.perf_counter()
recommender = Recommender(config).fit(store)
fit = time.perf_counter() - start
print(json.dumps({"interactions": int(recommender.index.seen.sum()), "users": users, "items": items,
                  "ingest_s": round(ingest, 1), "fit_s": round(fit, 1), "stage_seconds": recommender.timings,
                  "epochs": len(recommender.fitted.history),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def _kgrec_train(name: str, data_dir: str | None, work: Path) -> dict:
    kgrec = str(Path(sys.executable).parent / "kgrec")
    command = [kgrec, "train", name, "--store", f"memory:{work / 'store'}", "--model-dir", str(work / "model"),
               "--no-progress"] + (["--data-dir", data_dir] if data_dir else [])
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), "ingest_s": summary.get("ingest", {}).get("seconds"),
            "stage_seconds": summary["stage_seconds"], "epochs": summary["epochs"]}


def _child_rss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--only", default="ml-100k-kg,ml-1m,demo-0.1M,demo-0.5M,demo-1M")
    parser.add_argument("--out", default="benchmarks/results/train_cost")
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            if name.startswith("demo-"):
                millions = float(name[len("demo-"):-1])
                users = int(millions * 1e6 / 24)
                done = subprocess.run([sys.executable, "-c", _DEMO_FIT, str(work), str(users), str(int(users * 4 / 3))],
                                      check=True, capture_output=True, text=True)
                run = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                cold = _kgrec_train(name, args.data_dir, work)
                (work / "model").rename(work / "model-cold")
                import shutil

                shutil.rmtree(work / "store")
                run = _kgrec_train(name, args.data_dir, work)
                run["text_cold_s"] = cold["stage_seconds"]["text"]
                run["peak_rss_mib"] = _child_rss()
        run["load_average"] = [round(x, 1) for x in os.getloadavg()]
        results[name] = run
        print(name, json.dumps(run), flush=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    rows = ["| run | interactions | wall s | ingest s | text s (warm / cold) | GNN s | ranker s | epochs | peak RSS MiB | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, run in results.items():
        stages = run["stage_seconds"]
        text = f"{stages['text']} / {run['text_cold_s']}" if "text_cold_s" in run else "off"
        rows.append(f"| {name} | {run.get('interactions', '')} | {run.get('wall_s', run.get('fit_s'))} | "
                    f"{run.get('ingest_s')} | {text} | {stages['gnn']} | {stages['ranker']} | {run['epochs']} | "
                    f"{run['peak_rss_mib']} | {run['load_average'][0]} |")
    out.with_suffix(".md").write_text(
        "# Training cost with the defaults\n\n`python benchmarks/train_cost.py --data-dir ../shared/data`. "
        "ml-100k-kg and ml-1m: `kgrec train NAME` (ingest into a fresh embedded store, fit, save, write back), "
        "text cache warm; demo-N: the demo generator scaled, text off. Wall times on 2 cores; the last column "
        "is the 1-minute load average when the run ended (other work on the box slows every number).\n\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
