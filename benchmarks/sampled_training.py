"""Full-graph against neighbour-sampled GNN training: quality, time and peak memory.

    python benchmarks/sampled_training.py [--data-dir DIR] [--only quality,ml1m-steps]
        [--quality-data ml-100k-kg] [--steps 4]

Each run is its own process (its peak RSS is its own, read with ``os.wait4``):

- ``quality``: the warm split (seed 0) of ``--quality-data``, evaluated as ``kgrec evaluate
  --models kg_recsys`` does it (the same harness, scorer and defaults), once full-graph and
  once with ``[train] sampled_above_edges = 0`` (sampled at the default fan-out). Records
  test recall@20, the best validation recall@20, GNN and fit seconds, the peak RSS when the
  GNN stage ends (before the ranker) and at the end.
- ``ml1m-steps``: ml-1m's GNN trainer alone, ``--steps`` training steps in each mode: the
  peak RSS before and after the steps, seconds per step and per 1,000 positives. (A whole
  ml-1m evaluation of both modes took too long on the shared 2-core box.)

Writes benchmarks/results/sampled_training.json; the page beside it is written by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_QUALITY = """
import json, resource, sys, time
import torch
from ingest import load_snapshot
from kg_recsys.config import RecommenderConfig
from kg_recsys.evaluation import make_split
from kg_recsys.evaluation.harness import evaluate
from kg_recsys.evaluation.kgrec_scorer import KGRecScorer
import kg_recsys.training.fit as fit

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

name, data_dir, sampled = sys.argv[1], sys.argv[2] or None, sys.argv[3] == "sampled"
snapshot = load_snapshot(name, data_dir=data_dir)
split = make_split(snapshot, "warm", 0)
config = RecommenderConfig.from_dict({"train": {"progress": False, **({"sampled_above_edges": 0} if sampled else {})}})
scorer = KGRecScorer(config)
scorer._text_vectors(split.train)  # encoded (or read from the cache) before the fit is measured
before = peak()
stage = {}
train_ranker = fit.train_ranker
def at_ranker(*args, **kwargs):  # the GNN stage has ended: its peak is the peak so far
    stage.setdefault("gnn_peak_rss_mib", peak())
    return train_ranker(*args, **kwargs)
fit.train_ranker = at_ranker
trainers = []
GNNTrainer = fit.GNNTrainer
fit.GNNTrainer = lambda *a, **k: trainers.append(GNNTrainer(*a, **k)) or trainers[-1]
result = evaluate(split, [scorer], k=20, seed=0, progress=False)
history = scorer.fitted.history
print(json.dumps({
    "sampled": trainers[0].sampler is not None, "edges": trainers[0].num_edges,
    "fanout": list(config.train.fanout) if sampled else None,
    "test_recall@20": result["models"]["kg_recsys"]["recall@20"],
    "test_ndcg@20": result["models"]["kg_recsys"]["ndcg@20"],
    "best_valid_recall@20": max(h["valid_recall@20"] for h in history),
    "gnn_epochs": len(history), "gnn_s": history[-1]["seconds"], "fit_s": result["seconds"]["kg_recsys"]["fit"],
    "steps_per_epoch": -(-trainers[0].pairs.size(1) // trainers[0].batch_size()),
    "peak_rss_before_fit_mib": before, **stage}))
"""

_STEPS = """
import json, resource, sys, time
import torch
from ingest import load_snapshot
from kg_recsys.config import RecommenderConfig
from kg_recsys.graph import make_layout
from kg_recsys.model import LABEL_OF, NODE_TYPES, new_gnn, node_features
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training import GNNTrainer

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

data_dir, mode, batch, steps = sys.argv[1] or None, sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
snapshot = load_snapshot("ml-1m", data_dir=data_dir)
config = RecommenderConfig.from_dict({"train": {"progress": False, "batch_size": batch,
                                                **({"sampled_above_edges": 0} if mode == "sampled" else {})}})
text = snapshot_text_vectors(snapshot, TextEncoder(config.text, progress=False))
torch.use_deterministic_algorithms(True)  # as fit_model runs
layout = make_layout(snapshot)
torch.manual_seed(0)
gnn = new_gnn(config, layout, {t: len(snapshot.nodes(LABEL_OF[t])) for t in NODE_TYPES}, 384)
loaded = peak()
trainer = GNNTrainer(gnn, snapshot, layout, node_features(snapshot, text, True), config.train,
                     torch.Generator().manual_seed(0))
built = peak()
batch = trainer.batch_size()
order = torch.randperm(trainer.pairs.size(1), generator=torch.Generator().manual_seed(0))
trainer.model.train()
seconds = []
for step in range(steps):
    start = time.perf_counter()
    trainer.step(order[step * batch:(step + 1) * batch])
    seconds.append(time.perf_counter() - start)
stepped = peak()
start = time.perf_counter()
trainer.embed()
print(json.dumps({"mode": mode, "batch": batch, "edges": trainer.num_edges,
                  "steps_per_epoch": -(-trainer.pairs.size(1) // batch),
                  "step_s": [round(s, 2) for s in seconds], "s_per_1k_positives": round(1000 * min(seconds) / batch, 3),
                  "embed_s": round(time.perf_counter() - start, 2), "peak_rss_loaded_mib": loaded,
                  "peak_rss_trainer_built_mib": built, "peak_rss_after_steps_mib": stepped,
                  "peak_rss_after_embed_mib": peak()}))
"""


def _run(code: str, *args: str) -> dict:
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"run {args} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss // 1024
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--only", default="quality,ml1m-steps")
    parser.add_argument("--quality-data", default="ml-100k-kg")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", default="benchmarks/results/sampled_training.json")
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for part in args.only.split(","):
        if part == "quality":
            for mode in ("full", "sampled"):
                results[f"quality-{args.quality_data}-{mode}"] = _run(_QUALITY, args.quality_data, args.data_dir, mode)
        elif part == "ml1m-steps":
            # Full-graph steps grow to 1/20 of the interactions (50,011 here); sampled ones
            # keep the configured 8192, and once at the full-graph batch for per-positive cost.
            for mode, batch in (("full", 8192), ("sampled", 8192), ("sampled", 50011)):
                run = _run(_STEPS, args.data_dir, mode, str(batch), str(args.steps))
                results[f"ml1m-steps-{mode}-{run['batch']}"] = run
        else:
            raise SystemExit(f"unknown part {part!r}; known: quality, ml1m-steps")
        out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
