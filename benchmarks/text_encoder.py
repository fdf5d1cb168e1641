"""Throughput of kg-recsys' TextEncoder against sentence-transformers' ``encode``, same
model, same texts, same batch size, cache off (the cache would make ours free).

    python benchmarks/text_encoder.py [--texts N] [--data-dir DIR]

Texts are the item texts of ml-100k-kg when the data is there (titles + year + genres),
else the synthetic demo items. Writes benchmarks/results/text_encoder.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from ingest import load_snapshot
from kg_recsys.config import TextConfig
from kg_recsys.text import TextEncoder, default_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    try:
        snapshot = load_snapshot("lastfm-kg", data_dir=args.data_dir)
        source = "lastfm-kg item texts"
    except Exception:  # no real data on this machine: the demo items
        snapshot = load_snapshot("demo")
        source = "demo item texts"
    texts = [t for t in snapshot.items.text.tolist() if t][: args.texts]
    from sentence_transformers import SentenceTransformer

    ours = TextEncoder(TextConfig(cache_dir=None, batch_size=128))
    theirs = SentenceTransformer(default_model_path(), device="cpu")
    theirs.max_seq_length = ours.config.max_length
    timings = {"kg_recsys": [], "sentence_transformers": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours.encode(texts)
        timings["kg_recsys"].append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs.encode(texts, batch_size=128, normalize_embeddings=True)
        timings["sentence_transformers"].append(time.perf_counter() - start)
    result = {"source": source, "texts": len(texts), "threads": torch.get_num_threads(),
              "load_average": os.getloadavg(),
              "machine": platform.platform(), "cpu_count": os.cpu_count(),
              "texts_per_second": {k: len(texts) / min(v) for k, v in timings.items()},
              "best_seconds": {k: min(v) for k, v in timings.items()}}
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_encoder.json").write_text(json.dumps(result, indent=2))
    rate = result["texts_per_second"]
    (out / "text_encoder.md").write_text(
        f"# Text encoder throughput\n\n{len(texts)} {source}, all-MiniLM-L6-v2, batch 128, max 128 tokens, "
        f"{result['threads']} torch threads, best of {args.repeats}, load average "
        f"{result['load_average'][0]:.1f} (both encoders ran interleaved under the same load).\n\n| encoder | texts/s |\n|---|---:|\n"
        f"| kg_recsys TextEncoder (length-sorted batches) | {rate['kg_recsys']:.0f} |\n"
        f"| sentence-transformers encode | {rate['sentence_transformers']:.0f} |\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
