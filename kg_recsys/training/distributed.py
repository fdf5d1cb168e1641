"""Data-parallel GNN training over ``torch.distributed``: the process group, its launch,
and the few collectives the trainer needs.

Every rank holds the whole graph and the whole model. Per epoch each rank trains on its
own shard of the positive (seed) interactions (:class:`torch.utils.data.DistributedSampler`
over one shared permutation, so the shards are disjoint), with its own negatives, cold
views and neighbour samples; after each backward pass the gradients are averaged over the
ranks by one ``all_reduce``, as ``DistributedDataParallel`` would do, so the optimiser
steps keep the replicas equal. Rank 0 validates and broadcasts the score, from which every
rank takes the same early-stopping decision; the ranker, the index, the checkpoint and the
write-back are rank 0's alone.

Gradients are all-reduced by hand rather than through ``DistributedDataParallel``:
sampled steps leave some parameters without a gradient (an edge type absent from a
subgraph), which DDP handles only with ``find_unused_parameters`` (a graph traversal per
step), and the GNN's parameters fit one buffer, so one collective a step suffices.

Launch: ``kgrec train --nproc N`` starts ``N`` local processes through torch's elastic
launcher (:func:`launch`, what ``torchrun --standalone`` runs); under ``torchrun`` on one
or several machines each process finds its rank in the environment (:func:`init_from_env`).
The backend is gloo for CPU tensors (the trainer's, today) and NCCL for CUDA tensors where
CUDA is present.
"""
from __future__ import annotations

import hashlib
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist

from kg_recsys.threads import torch_threads

@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    #: This process's rank, ``0 .. size - 1``; rank 0 validates and writes the results.
    rank: int = 0
    #: Processes training together; ``1``: plain single-process training.
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    """The default process group's world, or a one-process world when there is none."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched() -> bool:
    """Whether this process was started by torchrun or :func:`launch` (its rank is in the
    environment)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def machine_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_process() -> int:
    """The cores this process may use, shared among the processes of its machine
    (``LOCAL_WORLD_SIZE``): ``N`` processes with all cores each would oversubscribe them."""
    return max(1, machine_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def work_alone() -> None:
    """Give this process every core of its machine: for rank 0 once the GNN is trained, when
    the other ranks have nothing left to do (the ranker, the index, the write-back)."""
    torch.set_num_threads(machine_cores())


def init_from_env() -> World:
    """Join the process group that torchrun's environment describes (once), and set torch's
    threads to :func:`threads_per_process`.

    Returns:
        This process's world (one process when not launched).
    """
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return current_world()
    # gloo carries CPU tensors, which the trainer's are; NCCL takes CUDA tensors where there is a GPU.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group(backend)
    torch.set_num_threads(threads_per_process())
    return current_world()


def launch(nproc: int, fn: Callable[..., Any], *args: Any) -> dict[int, Any]:
    """Run ``fn(*args)`` in ``nproc`` local processes joined in one process group, through
    torch's elastic launcher (``torchrun --standalone --nproc-per-node nproc``: a c10d
    rendezvous on a free loopback port, no restarts).

    Args:
        nproc: processes (ranks) to start.
        fn: a module-level function (it is pickled into spawned processes).

    Returns:
        ``{rank: fn's return value}``.

    Raises:
        torch.distributed.elastic.multiprocessing.errors.ChildFailedError: a rank failed;
            the launcher then stops the others.
    """
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn")
    # The launcher prints a banner to stdout only at INFO level; our workers print their own.
    return elastic_launch(config, _run_rank)(fn, *args)


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _run_rank(fn: Callable[..., Any], *args: Any) -> Any:
    init_from_env()
    try:
        return fn(*args)
    finally:
        leave()


def rank_seed(seed: int, rank: int) -> int:
    """A seed of its own for each rank (negatives, cold views, samples, dropout), from the
    fit's seed: ranks sharing the draws would repeat each other's noise."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def average(tensors: Sequence[torch.Tensor]) -> None:
    """Replace each tensor by its mean over the ranks, in one ``all_reduce`` of a flat
    buffer (the tensors are small: the GNN's gradients)."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    start = 0
    for t in tensors:
        t.copy_(flat[start:start + t.numel()].view_as(t))
        start += t.numel()


def average_gradients(parameters: Sequence[torch.nn.Parameter], *extra: torch.Tensor) -> None:
    """Average the parameters' gradients (and ``extra`` tensors, e.g. the loss) over the ranks.

    A parameter without a gradient on a rank counts as a zero gradient there; one without
    a gradient on every rank keeps none, so the optimiser skips it on every rank, as a
    single process would.
    """
    used = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    average([*grads, *extra, used])
    for p, g, share in zip(parameters, grads, used.tolist()):
        p.grad = g if share > 0 else None


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DDP does when it wraps a
    module), so the replicas start equal whatever each rank's initialisation drew."""
    for tensor in [*module.parameters(), *module.buffers()]:
        with torch.no_grad():
            dist.broadcast(tensor.data, src=0)


def broadcast_float(value: float) -> float:
    """Rank 0's ``value`` on every rank."""
    buffer = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(buffer, src=0)
    return float(buffer.item())


def from_main(compute: Callable[[], Any]) -> Any:
    """``compute()`` on rank 0, its (picklable) result on every rank; outside a process
    group, just ``compute()``. For work each rank would otherwise repeat, such as encoding
    the node text."""
    world = current_world()
    if world.size == 1:
        return compute()
    if world.is_main:
        with torch_threads(machine_cores()):  # the others wait: their cores are free
            box = [compute()]
    else:
        box = [None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def snapshot_fingerprint(snapshot) -> str:
    """A digest of a :class:`~kg_recsys.store.base.GraphSnapshot`'s node order and edges:
    every rank must train on the same graph, in the same row order."""
    digest = hashlib.sha256()
    for table in (snapshot.users, snapshot.items, snapshot.entities):
        digest.update("\n".join(table.ids.tolist()).encode())
        digest.update(b"\0")
    inter = snapshot.interactions
    for column in (inter.user, inter.item):
        digest.update(np.ascontiguousarray(column, dtype=np.int64).tobytes())
    digest.update("\n".join(map(str, inter.scenario.tolist())).encode())
    for edge_type in sorted(snapshot.relations):
        src, dst = snapshot.relations[edge_type]
        digest.update(repr(edge_type).encode())
        digest.update(np.ascontiguousarray(src, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(dst, dtype=np.int64).tobytes())
    return digest.hexdigest()


def check_same_graph(snapshot) -> None:
    """Raise ``ValueError`` unless every rank holds the same graph. ``Recommender.fit``
    hands rank 0's to the others; a script calling ``fit_model`` on each rank's own read
    could get another order (a store changed between the reads, a cluster's replicas)."""
    world = current_world()
    if world.size == 1:
        return
    prints: list[str | None] = [None] * world.size
    dist.all_gather_object(prints, snapshot_fingerprint(snapshot))
    if len(set(prints)) > 1:
        groups = {p: [r for r, q in enumerate(prints) if q == p] for p in prints}
        raise ValueError("the training processes read different graphs (ranks "
                         + " | ".join(",".join(map(str, ranks)) for ranks in groups.values())
                         + "): every rank must read the same store, unchanged while they start")


def log(message: str) -> None:
    """A line on stderr naming this process's rank (for messages any rank may print)."""
    world = current_world()
    prefix = f"[rank {world.rank}/{world.size}] " if world.size > 1 else ""
    print(prefix + message, file=sys.stderr, flush=True)
