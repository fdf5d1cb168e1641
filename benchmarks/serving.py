"""Serving cost: load time, single-user and batch recommend, CLI wall time, peak RSS.

    python benchmarks/serving.py [--model-dir DIR] [--items 100000] [--users 50000] [--index NPZ]

Two parts, written to benchmarks/results/serving.json and serving.md:

- **synthetic**: a serving index of ``--items`` items and ``--users`` users (64-d vectors,
  about 20 interactions per user drawn by a power law, 2 scenarios) with an untrained ranker
  of the default shape: the request path is the same as for a trained one (recall over
  every item, candidates, the ranker's features and scores, top-k), so its cost is too.
  The statistics come from the same ``build_index`` code as a fitted model's.
- **model** (with ``--model-dir``, e.g. a model trained by ``kgrec train ml-1m``): the same
  measurements on a real saved model, plus the wall time of ``kgrec recommend`` on it.

Every request is top-20 with ranking. Latencies are wall times per call, after 20 warm-up
calls, on the threads torch chooses (here 2).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def measure(recommender, users: list[str], single_calls: int, batch_size: int) -> dict:
    """Single-user latency percentiles and batch throughput of ``recommender.recommend``."""
    rng = np.random.default_rng(0)
    picks = [users[i] for i in rng.integers(len(users), size=single_calls + 20)]
    for user in picks[:20]:
        recommender.recommend(user, k=20)
    seconds = []
    for user in picks[20:]:
        start = time.perf_counter()
        recommender.recommend(user, k=20)
        seconds.append(time.perf_counter() - start)
    batch = [users[i] for i in rng.integers(len(users), size=batch_size)]
    recommender.recommend(batch[:100], k=20)
    start = time.perf_counter()
    recommender.recommend(batch, k=20)
    batch_seconds = time.perf_counter() - start
    return {"single": _percentiles(seconds), "batch_users": batch_size,
            "batch_users_per_s": round(batch_size / batch_seconds, 1)}


def time_updates(model_dir: str, store_uri: str, calls: int) -> dict:
    """``add_interactions`` latency (one new item for a random user), on a copy of the store;
    the first call, which reads the graph into memory, is reported apart."""
    import shutil
    import tempfile

    from kg_recsys import MemoryStore, Recommender

    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(store_uri.removeprefix("memory:"), f"{folder}/store")
        store = MemoryStore(f"{folder}/store")
        model = Recommender.load(model_dir, store)
        rng = np.random.default_rng(0)
        seconds = []
        for _ in range(calls + 1):
            user = int(rng.integers(model.index.num_users))
            unseen = np.flatnonzero(np.asarray(model.index.seen[user].todense()).ravel() == 0)
            item = str(model.index.item_ids[unseen[rng.integers(len(unseen))]])
            start = time.perf_counter()
            model.add_interactions(str(model.index.user_ids[user]), [item])
            seconds.append(time.perf_counter() - start)
        store.close()
    return {"first_update_s": round(seconds[0], 2), "add_interactions": _percentiles(seconds[1:])}


SCENARIOS = ("books", "movies")


def synthetic_model(seed: int = 0):
    """The config and the fitted model (an untrained ranker of the default shape) of the
    synthetic index."""
    from kg_recsys import RecommenderConfig
    from kg_recsys.graph import GraphLayout
    from kg_recsys.model import FittedModel, new_ranker

    config = RecommenderConfig.from_dict({"model": {"use_text": False, "use_kg": False}})
    torch.manual_seed(seed)
    return config, FittedModel(config, GraphLayout((), SCENARIOS), None, new_ranker(config, len(SCENARIOS)), {})


def serve(config, fitted, index):
    """A Recommender answering from ``index``."""
    from kg_recsys import Recommender

    recommender = Recommender(config)
    recommender.fitted = fitted
    recommender._use_index(index)
    return recommender


def synthetic(num_items: int, num_users: int, per_user: int = 20, seed: int = 0):
    """A Recommender serving a synthetic index of the given size (see the module docstring)."""
    from kg_recsys.serving import build_index
    from kg_recsys.store.base import GraphSnapshot, InteractionTable, NodeTable

    rng = np.random.default_rng(seed)
    scenarios = SCENARIOS
    popularity = rng.pareto(1.2, size=num_items) + 1.0
    item_scenario = np.array(scenarios)[np.arange(num_items) % 2]
    count = num_users * per_user
    users = np.repeat(np.arange(num_users), per_user)
    items = rng.choice(num_items, size=count, p=popularity / popularity.sum())
    interactions = InteractionTable(users, items, item_scenario[items], np.full(count, "view"),
                                    np.ones(count, np.float32), np.full(count, np.nan))
    snapshot = GraphSnapshot(
        NodeTable.build([f"u{u}" for u in range(num_users)], [""] * num_users, [""] * num_users),
        NodeTable.build([f"i{i}" for i in range(num_items)], [f"item {i}" for i in range(num_items)], item_scenario),
        NodeTable.build([], [], []), interactions)
    dim = 64  # the default [model] hidden_dim
    vectors = {"user": torch.randn(num_users, dim) / dim ** 0.5, "item": torch.randn(num_items, dim) / dim ** 0.5}
    config, fitted = synthetic_model(seed)
    start = time.perf_counter()
    index = build_index(fitted, snapshot, None, vectors=vectors)
    build_seconds = time.perf_counter() - start
    return serve(config, fitted, index), build_seconds


def measure_synthetic(args) -> dict:
    from kg_recsys.serving import ServingIndex

    times = {}
    if args.index:  # an index this script saved before: the same request path, no build
        recommender = serve(*synthetic_model(), ServingIndex.load(args.index))
        path = Path(args.index)
    else:
        recommender, build_seconds = synthetic(args.items, args.users)
        path = Path(".kgrec/bench-serving-index.npz")
        path.parent.mkdir(exist_ok=True)
        start = time.perf_counter()
        recommender.index.save(path)
        times = {"index_build_s": round(build_seconds, 2), "index_save_s": round(time.perf_counter() - start, 2)}
    start = time.perf_counter()
    ServingIndex.load(path)
    load_seconds = time.perf_counter() - start
    return {"items": recommender.index.num_items, "users": recommender.index.num_users,
            "interactions": int(recommender.index.seen.nnz), **times, "index_load_s": round(load_seconds, 3),
            **measure(recommender, recommender.index.user_ids.tolist(), args.calls, args.batch)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="synthetic items; 0 skips the synthetic part")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--index", default=None, metavar="NPZ",
                        help="serve a synthetic index saved by an earlier run (.kgrec/bench-serving-index.npz) "
                             "instead of building one (minutes at 100,000 items)")
    parser.add_argument("--model-dir", default=None, help="a saved model to measure as well")
    parser.add_argument("--store", default=None, metavar="memory:PATH",
                        help="the model's embedded store: add_interactions is timed on a copy of it")
    parser.add_argument("--updates", type=int, default=50, help="add_interactions calls timed (default: 50)")
    parser.add_argument("--calls", type=int, default=500, help="single-user calls timed (default: 500)")
    parser.add_argument("--batch", type=int, default=2000, help="users in the batch call (default: 2000)")
    parser.add_argument("--out", default="benchmarks/results/serving")
    args = parser.parse_args()
    from kg_recsys import Recommender

    result = {"threads": torch.get_num_threads()}
    if args.items:
        result["synthetic"] = measure_synthetic(args)
    if args.model_dir:
        start = time.perf_counter()
        model = Recommender.load(args.model_dir)
        load = time.perf_counter() - start
        user = str(model.index.user_ids[0])
        command = [str(Path(sys.executable).parent / "kgrec"), "recommend", user, "--model-dir", args.model_dir, "--k", "20"]
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
        updates = {}
        if args.store:
            updates = time_updates(args.model_dir, args.store, args.updates)
        result["model"] = {"model_dir": args.model_dir, "items": model.index.num_items, **updates,
                           "users": model.index.num_users, "load_s": round(load, 3),
                           "cli_recommend_s": round(min(walls), 2),
                           **measure(model, model.index.user_ids.tolist(), args.calls, args.batch)}
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    rows = ["| index | items | users | load s | single p50 ms | single p99 ms | batch users/s |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, part in (("synthetic", result.get("synthetic")), ("model", result.get("model"))):
        if part:
            rows.append(f"| {name} | {part['items']:,} | {part['users']:,} | "
                        f"{part.get('index_load_s', part.get('load_s'))} | {part['single']['p50_ms']} | "
                        f"{part['single']['p99_ms']} | {part['batch_users_per_s']:,} |")
    cli = ""
    if "model" in result:
        cli = f"\n`kgrec recommend` on the saved model: {result['model']['cli_recommend_s']} s wall (best of 3).\n"
        if "add_interactions" in result["model"]:
            cli += (f"`add_interactions` (one item): p50 {result['model']['add_interactions']['p50_ms']} ms, "
                    f"p99 {result['model']['add_interactions']['p99_ms']} ms; the first call, which reads the "
                    f"store's graph into memory, {result['model']['first_update_s']} s.\n")
    out.with_suffix(".md").write_text(
        "# Serving\n\n`python benchmarks/serving.py" + (f" --model-dir {args.model_dir}" if args.model_dir else "")
        + f"`; top-20 with ranking, {result['threads']} torch threads, load average {result['load_average']}.\n\n"
        + "\n".join(rows) + "\n" + cli + f"\nPeak RSS {result['peak_rss_mib']} MiB.\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
