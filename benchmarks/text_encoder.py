"""Throughput and agreement of kg-recsys' TextEncoder (torch and ONNX Runtime backends)
against sentence-transformers' ``encode``: same model, same texts, same threads, cache off
(the cache would make ours free), interleaved so that all run under the same load.

    python benchmarks/text_encoder.py [--texts N] [--threads T] [--repeats R] [--data-dir DIR]

Texts are the item texts of lastfm-kg when the data is there (artist names + tags), else
the synthetic demo items. Cosine is to our torch (fp32) vectors, text by text. Writes
benchmarks/results/text_encoder.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ingest import load_snapshot
from kg_recsys.config import TextConfig
from kg_recsys.text import TextEncoder, default_model_path

NAMES = {"torch": "kg_recsys TextEncoder, torch fp32 (length-sorted batches of 128)",
         "onnx": "kg_recsys TextEncoder, ONNX Runtime int8 (batches of 32)",
         "st_default": "sentence-transformers encode, defaults (batch 32)",
         "st_128": "sentence-transformers encode, batch 128"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: torch's)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    try:
        snapshot = load_snapshot("lastfm-kg", data_dir=args.data_dir)
        source = "lastfm-kg item texts"
    except Exception:  # no real data on this machine: the demo items
        snapshot = load_snapshot("demo")
        source = "demo item texts"
    texts = [t for t in snapshot.items.text.tolist() if t][: args.texts]
    from sentence_transformers import SentenceTransformer

    load_start = os.getloadavg()
    started = time.perf_counter()
    ours = TextEncoder(TextConfig(cache_dir=None, backend="torch", threads=threads), progress=False)
    load_seconds = {"torch": time.perf_counter() - started}
    started = time.perf_counter()
    fast = TextEncoder(TextConfig(cache_dir=None, backend="onnx", threads=threads), progress=False)
    load_seconds["onnx"] = time.perf_counter() - started
    theirs = SentenceTransformer(default_model_path(), device="cpu")
    theirs.max_seq_length = ours.config.max_length
    runs = {"torch": lambda: ours.encode(texts), "onnx": lambda: fast.encode(texts),
            "st_default": lambda: theirs.encode(texts, normalize_embeddings=True),
            "st_128": lambda: theirs.encode(texts, batch_size=128, normalize_embeddings=True)}
    timings: dict[str, list[float]] = {name: [] for name in runs}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            vectors[name] = np.asarray(run())
            timings[name].append(time.perf_counter() - start)
    cosine = {name: (v * vectors["torch"]).sum(1) / np.linalg.norm(v, axis=1) for name, v in vectors.items()}
    rate = {name: len(texts) / min(v) for name, v in timings.items()}
    result = {"source": source, "texts": len(texts), "threads": threads, "repeats": args.repeats,
              "load_average_start": load_start, "load_average_end": os.getloadavg(),
              "machine": platform.platform(), "cpu_count": os.cpu_count(),
              "onnx_export": {"file": str(fast.onnx_file), "exported_in_this_run": fast.exported,
                              "megabytes": round(os.path.getsize(fast.onnx_file) / 2**20, 1)},
              "load_seconds": load_seconds,
              "texts_per_second": rate, "best_seconds": {k: min(v) for k, v in timings.items()},
              "speedup_over_st_default": {k: rate[k] / rate["st_default"] for k in rate},
              "speedup_over_st_128": {k: rate[k] / rate["st_128"] for k in rate},
              "cosine_to_torch": {k: {"mean": float(c.mean()), "min": float(c.min())} for k, c in cosine.items()}}
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "text_encoder.json").write_text(json.dumps(result, indent=2))
    rows = "".join(f"| {NAMES[k]} | {rate[k]:.0f} | {result['speedup_over_st_default'][k]:.2f}x | "
                   f"{result['speedup_over_st_128'][k]:.2f}x | {cosine[k].mean():.4f} | {cosine[k].min():.4f} |\n"
                   for k in runs)
    (out / "text_encoder.md").write_text(
        f"# Text encoder throughput\n\n{len(texts)} {source}, all-MiniLM-L6-v2, max 128 tokens, {threads} threads "
        f"(torch and ONNX Runtime), best of {args.repeats}, interleaved under the same load; load average "
        f"{load_start[0]:.1f} at the start, {result['load_average_end'][0]:.1f} at the end, {os.cpu_count()} cores. "
        f"Cosine is to our torch fp32 vectors, text by text. ONNX export: "
        f"{result['onnx_export']['megabytes']} MB, loaded in {load_seconds['onnx']:.1f} s "
        f"({'exported in this run' if fast.exported else 'from the export cache'}); torch model loaded in "
        f"{load_seconds['torch']:.1f} s.\n\n"
        "| encoder | texts/s | vs ST default | vs ST batch 128 | mean cosine | min cosine |\n"
        "|---|---:|---:|---:|---:|---:|\n" + rows +
        "\nRe-run: `python benchmarks/text_encoder.py --threads 2 --data-dir ../shared/data`.\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
