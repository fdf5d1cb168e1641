"""Training time and memory of the GNN on ml-1m (1M interactions) on this machine.

    python benchmarks/train_ml1m.py [--epochs N] [--data-dir DIR]

Fits the full model (text features on, KG on, ranker on) and writes
benchmarks/results/train_ml1m.json and .md: seconds per epoch, total fit time, peak RSS.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path

import torch

from ingest import load_snapshot
from kg_recsys.config import RecommenderConfig
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training import fit_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    snapshot = load_snapshot("ml-1m", data_dir=args.data_dir)
    load_seconds = time.perf_counter() - start
    config = RecommenderConfig()
    config = dataclasses.replace(config, train=dataclasses.replace(
        config.train, epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs))
    start = time.perf_counter()
    text = snapshot_text_vectors(snapshot, TextEncoder(config.text))
    text_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fitted = fit_model(snapshot, config, text)
    fit_seconds = time.perf_counter() - start
    result = {
        "interactions": len(snapshot.interactions), "users": len(snapshot.users), "items": len(snapshot.items),
        "entities": len(snapshot.entities), "epochs": len(fitted.history), "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "load_seconds": load_seconds, "text_seconds": text_seconds,
        "fit_seconds": fit_seconds, "gnn_seconds": fitted.history[-1]["seconds"],
        "ranker_seconds": fit_seconds - fitted.history[-1]["seconds"],
        "ranker_draws": config.rank.draws, "ranker_members": config.rank.members,
        "valid_recall@20": [h["valid_recall@20"] for h in fitted.history],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_ml1m.json").write_text(json.dumps(result, indent=2))
    (out / "train_ml1m.md").write_text(
        "# GNN training on ml-1m\n\n"
        f"{result['interactions']:,} interactions, {result['users']:,} users, {result['items']:,} items, "
        f"{result['entities']:,} entities; batch {args.batch_size}, {result['threads']} threads.\n\n"
        "| step | seconds |\n|---|---:|\n"
        f"| ingest + snapshot (cached after the first run) | {load_seconds:.0f} |\n"
        f"| text vectors (cached after the first run) | {text_seconds:.0f} |\n"
        f"| fit, {result['epochs']} GNN epochs + ranker | {fit_seconds:.0f} |\n"
        f"| of which the GNN epochs (with validation) | {result['gnn_seconds']:.0f} |\n"
        f"| of which the ranker ({result['ranker_draws']} draws of {result['ranker_members']} members) "
        f"| {result['ranker_seconds']:.0f} |\n\n"
        f"Peak RSS {result['peak_rss_mib']:.0f} MiB. Validation recall@20 by epoch: "
        f"{', '.join(f'{r:.3f}' for r in result['valid_recall@20'])}.\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
