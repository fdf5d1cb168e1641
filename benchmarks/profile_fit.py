"""Where a fit's time goes: one GNN epoch and one ranker draw on ml-100k-kg, profiled.

    python benchmarks/profile_fit.py [--data-dir DIR] [--dataset ml-100k-kg]

Writes benchmarks/results/profile.md: the wall time of a GNN step, epoch and validation,
and of one ranker draw, with the top functions by own time (cProfile) and the top torch
operators of three GNN steps (torch.profiler). Text vectors come from the cache
(``.kgrec/text-cache``); the first run fills it.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path

import numpy as np
import torch

from ingest import load_snapshot
from kg_recsys.config import RecommenderConfig
from kg_recsys.graph import make_layout
from kg_recsys.model import LABEL_OF, NODE_TYPES, FittedModel, interacted, new_gnn, node_features
from kg_recsys.text import TextEncoder, snapshot_text_vectors
from kg_recsys.training.fit import HoldoutRecall
from kg_recsys.training.gnn_trainer import GNNTrainer, holdout_mask
from kg_recsys.training.ranker_trainer import train_ranker


def _top_functions(profile: cProfile.Profile, count: int = 15) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime")
    rows = ["| function | calls | own s | with callees s |", "|---|---:|---:|---:|"]
    for (file, line, name), (_, calls, own, total, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:count]:
        where = f"{Path(file).name}:{line} {name}" if line else name
        rows.append(f"| `{where.replace('|', '/')}` | {calls} | {own:.2f} | {total:.2f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="ml-100k-kg")
    parser.add_argument("--out", default="benchmarks/results/profile.md")
    args = parser.parse_args()
    config = RecommenderConfig()
    snapshot = load_snapshot(args.dataset, data_dir=args.data_dir)
    text = snapshot_text_vectors(snapshot, TextEncoder(config.text, progress=False))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    mask = holdout_mask(snapshot.interactions, 0.1, rng)
    graph = snapshot.with_interactions(snapshot.interactions.select(~mask))
    holdout = snapshot.interactions.select(mask)
    layout = make_layout(snapshot, use_kg=True, min_relation_edges=config.model.min_relation_edges)
    features = node_features(graph, text, True)
    gnn = new_gnn(config, layout, {t: len(graph.nodes(LABEL_OF[t])) for t in NODE_TYPES}, features["user"].size(1))
    warm = interacted(graph)
    fitted = FittedModel(config, layout, gnn, None,
                         {t: np.where(warm[t], graph.nodes(LABEL_OF[t]).ids, "") for t in NODE_TYPES})
    torch.use_deterministic_algorithms(config.train.deterministic)
    trainer = GNNTrainer(gnn, graph, layout, features, config.train, generator)
    steps = -(-len(graph.interactions) // config.train.batch_size)

    gnn_profile = cProfile.Profile()
    clock = time.perf_counter()
    gnn_profile.enable()
    trainer.train_epoch()
    gnn_profile.disable()
    epoch_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    recall = HoldoutRecall(graph, layout.scenarios, holdout)(trainer.embed())
    valid_seconds = time.perf_counter() - clock

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as ops:
        for _ in range(3):
            trainer.step(torch.arange(config.train.batch_size))
    op_table = ops.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)

    ranker_profile = cProfile.Profile()
    clock = time.perf_counter()
    ranker_profile.enable()
    _, record = train_ranker(fitted, graph, holdout, text, rng)
    ranker_profile.disable()
    ranker_seconds = time.perf_counter() - clock

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    report = f"""# Profile: one GNN epoch and one ranker draw ({args.dataset})

`python benchmarks/profile_fit.py --data-dir ../shared/data`; {torch.get_num_threads()} torch threads,
load average at the end {load} (2 cores). {len(graph.interactions):,} training interactions,
{len(snapshot.entities):,} entities, {len(layout.edge_types)} edge types.

| stage | seconds |
|---|---:|
| one GNN epoch ({steps} steps of {config.train.batch_size}) | {epoch_seconds:.2f} |
| one GNN step (mean) | {epoch_seconds / steps:.3f} |
| validation recall@20 (one forward pass + ranking) | {valid_seconds:.2f} |
| one ranker draw ({record['epochs']} epochs, {record['checks']} checks, {config.rank.members} members) | {ranker_seconds:.2f} |

Validation recall@20 after one epoch: {recall:.4f}.

## GNN epoch, top functions by own time (cProfile)

{_top_functions(gnn_profile)}

## Three GNN steps, top torch operators

```
{op_table}
```

## Ranker draw, top functions by own time (cProfile)

{_top_functions(ranker_profile)}
"""
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
