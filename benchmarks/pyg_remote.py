"""One epoch of PyG's NeighborLoader over the stores (kg_recsys.store.pyg_remote) against the
same loader over the in-memory HeteroData.

    python benchmarks/pyg_remote.py [SOURCE] [--data-dir DIR] [--neo4j bolt://HOST:PORT]
        [--batch-size 256] [--fanout 20,10] [--dim 384] [--repeats 2]
        [--out benchmarks/results/pyg_remote]

SOURCE (default ml-100k-kg) is ingested into an embedded store (in memory) and, with
``--neo4j`` (default ``$KGREC_NEO4J_URI`` if set), into that Neo4j database, which is
cleared first. Every node gets a random ``--dim`` text vector (what the loader fetches costs
the same whatever the values), written to the store under ``text_vector``. For each backend:
the setup (in memory: snapshot and ``build_hetero_data``; remote: ``store.topology()`` and
the two PyG stores) and an epoch of a ``NeighborLoader`` over every user (seeded shuffle,
``TorchNeighborSampler``), best of ``--repeats``; for the remote ones, the seconds spent in
``read_vectors`` within the epoch. The first batches of each remote loader are checked equal
to the in-memory loader's. On Neo4j it also times ``store.snapshot()`` (the full export
training reads otherwise) against ``store.topology()``. Writes OUT.json; the page beside it is written by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", default="ml-100k-kg")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--neo4j", default=os.environ.get("KGREC_NEO4J_URI"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--fanout", default="20,10")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/pyg_remote")
    args = parser.parse_args()

    import numpy as np
    import torch
    from torch_geometric.loader import NeighborLoader

    from ingest import ingest_source
    from kg_recsys.graph import build_hetero_data, make_layout
    from kg_recsys.schema import NODE_LABELS
    from kg_recsys.store.memory import MemoryStore
    from kg_recsys.store.pyg_remote import store_backend, write_text_vectors
    from kg_recsys.training.pyg_sampler import TorchNeighborSampler

    torch.set_num_threads(1)
    fanout = [int(f) for f in args.fanout.split(",")]
    kwargs = {"data_dir": args.data_dir} if args.data_dir else {}

    def loader(data):
        return NeighborLoader(data, fanout, input_nodes="user", batch_size=args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(0),
                              neighbor_sampler=TorchNeighborSampler(data, fanout, seed=0))

    def epoch(data) -> tuple[float, int, int]:
        start, batches, nodes = time.perf_counter(), 0, 0
        for batch in loader(data):
            batches += 1
            nodes += sum(batch[t].num_nodes for t in batch.node_types)
        return time.perf_counter() - start, batches, nodes

    def same_first_batches(a, b, n: int = 3) -> bool:
        for k, (x, y) in enumerate(zip(loader(a), loader(b))):
            if k == n:
                break
            for t in x.node_types:
                if not (torch.equal(x[t].n_id, y[t].n_id) and torch.equal(x[t].x, y[t].x)):
                    return False
            for e in x.edge_types:
                if not torch.equal(x[e].edge_index, y[e].edge_index):
                    return False
        return True

    result: dict = {"source": args.source, "batch_size": args.batch_size, "fanout": fanout, "dim": args.dim,
                    "repeats": args.repeats, "runs": []}

    def timed_read_vectors(store) -> list[float]:
        spent = [0.0]
        read = store.read_vectors

        def wrapped(*a, **k):
            start = time.perf_counter()
            try:
                return read(*a, **k)
            finally:
                spent[0] += time.perf_counter() - start

        store.read_vectors = wrapped
        return spent

    def run_remote(name: str, store, reference, layout) -> None:
        start = time.perf_counter()
        remote = store_backend(store, layout)
        setup = time.perf_counter() - start
        same = same_first_batches(reference, remote)
        spent = timed_read_vectors(store)
        best = None
        for _ in range(args.repeats):
            spent[0] = 0.0
            seconds, batches, nodes = epoch(remote)
            if best is None or seconds < best[0]:
                best = (seconds, batches, nodes, spent[0])
        record = {"backend": name, "setup_s": round(setup, 3), "epoch_s": round(best[0], 3), "batches": best[1],
                  "sampled_nodes": best[2], "read_vectors_s": round(best[3], 3), "same_batches": same,
                  "load": os.getloadavg()[0]}
        result["runs"].append(record)
        print(json.dumps(record), flush=True)

    memory = MemoryStore()
    start = time.perf_counter()
    ingest_source(args.source, memory, progress=False, **kwargs)
    result["ingest_memory_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    snapshot = memory.snapshot()
    layout = make_layout(snapshot)
    setup = time.perf_counter() - start
    rng = np.random.default_rng(0)
    text = {label: rng.standard_normal((len(snapshot.nodes(label)), args.dim)).astype(np.float32)
            for label in NODE_LABELS}
    start = time.perf_counter()
    data = build_hetero_data(snapshot, layout, text)
    setup += time.perf_counter() - start
    result["nodes"] = {label: len(snapshot.nodes(label)) for label in NODE_LABELS}
    result["edges"] = int(sum(data[e].edge_index.shape[1] for e in data.edge_types))
    best = min(epoch(data) for _ in range(args.repeats))
    record = {"backend": "in-memory HeteroData", "setup_s": round(setup, 3), "epoch_s": round(best[0], 3),
              "batches": best[1], "sampled_nodes": best[2], "load": os.getloadavg()[0]}
    result["runs"].append(record)
    print(json.dumps(record), flush=True)

    ids = {label: snapshot.nodes(label).ids for label in NODE_LABELS}
    write_text_vectors(memory, ids, text)
    run_remote("embedded store (remote backend)", memory, data, layout)

    if args.neo4j:
        from kg_recsys.store.neo4j import Neo4jStore

        with Neo4jStore(args.neo4j) as neo:
            neo.clear()
            neo.ensure_schema()
            start = time.perf_counter()
            ingest_source(args.source, neo, progress=False, **kwargs)
            result["ingest_neo4j_s"] = round(time.perf_counter() - start, 1)
            # Neo4j numbers nodes by id: the reference and the vectors follow its snapshot.
            neo_snapshot = neo.snapshot()
            rows = {label: {node_id: n for n, node_id in enumerate(ids[label].tolist())} for label in NODE_LABELS}
            neo_text = {label: text[label][[rows[label][i] for i in neo_snapshot.nodes(label).ids.tolist()]]
                        for label in NODE_LABELS}
            start = time.perf_counter()
            write_text_vectors(neo, {label: neo_snapshot.nodes(label).ids for label in NODE_LABELS}, neo_text)
            result["write_vectors_neo4j_s"] = round(time.perf_counter() - start, 1)
            neo_data = build_hetero_data(neo_snapshot, layout, neo_text)
            for name, read in (("snapshot", neo.snapshot), ("topology", neo.topology)):
                seconds = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    read()
                    seconds.append(time.perf_counter() - start)
                result[f"neo4j_{name}_s"] = round(min(seconds), 2)
            run_remote("Neo4j (remote backend)", neo, neo_data, layout)

    out = Path(args.out).with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
