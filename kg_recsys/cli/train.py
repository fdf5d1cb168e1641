"""``kgrec train``: fit a Recommender on a graph store, save it, and write results back.

Also home of the helpers that ``recommend``, ``explain`` and ``demo`` share: opening the
model folder with a clear error, and the ``--store``/``--model-dir`` options.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from kg_recsys.cli import CliError

DEFAULT_MODEL_DIR = ".kgrec/model"

_EPILOG = """\
examples:
  kgrec train demo                                  # ingest the demo data, train, save, write back
  kgrec train --epochs 10 --model-dir .kgrec/model  # train on what the default store already holds
  kgrec train ml-100k-kg --data-dir DATA --config my.toml
  kgrec train demo --store bolt://127.0.0.1:7687    # Neo4j: vectors + RECOMMENDED for Cypher
  kgrec train ml-100k-kg --nproc 2                  # data-parallel GNN training in 2 processes
  torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
      -m kg_recsys.cli train --store bolt://HOST:7687   # several machines (docs/scale.md)
"""


def add_store_options(parser: argparse.ArgumentParser, model_dir: bool = True, store_help: str | None = None) -> None:
    from kg_recsys.cli.ingest import STORE_HELP

    parser.add_argument("--store", default="memory", help=store_help or STORE_HELP)
    if model_dir:
        parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, metavar="DIR",
                            help=f"folder of the trained model (default: {DEFAULT_MODEL_DIR})")


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def load_model(model_dir: str, store):
    """``Recommender.load`` with errors a user can act on."""
    from kg_recsys import Recommender
    from kg_recsys.model import CheckpointError

    folder = Path(model_dir)
    if not (folder / "model.json").is_file() or not (folder / "model.safetensors").is_file():
        raise CliError(f"no trained model in {folder}/: run `kgrec train --model-dir {folder}` first")
    try:
        return Recommender.load(folder, store)
    except CheckpointError as error:
        raise CliError(str(error)) from None
    except (ValueError, KeyError, OSError) as error:
        raise CliError(f"cannot load the model in {folder}/ ({error}); retrain it with `kgrec train`") from None


def build_config(config_file: str | None, epochs: int | None = None, seed: int | None = None,
                 progress: bool = True):
    """The config from an optional TOML file, with command-line overrides applied."""
    from kg_recsys import ConfigError, RecommenderConfig

    try:
        config = RecommenderConfig.from_toml(config_file) if config_file else RecommenderConfig()
    except FileNotFoundError:
        raise CliError(f"config file {config_file} does not exist") from None
    except (ConfigError, ValueError, TypeError) as error:  # tomllib errors are ValueErrors
        raise CliError(f"bad config {config_file}: {error}") from None
    changes = {"progress": progress}
    if epochs is not None:
        changes["epochs"] = epochs
    if seed is not None:
        changes["seed"] = seed
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **changes))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train the recommender on the graph store",
        description="Train a Recommender on everything in the store (after ingesting SOURCE into it, when "
                    "given), save it to --model-dir as model.safetensors + model.json, and write node vectors "
                    "and every user's top-K as (:User)-[:RECOMMENDED]->(:Item) back to the store. Prints one "
                    "JSON line.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE", nargs="?",
                        help="optional dataset to ingest first (anything `kgrec ingest` takes, e.g. demo)")
    add_store_options(parser)
    parser.add_argument("--data-dir", default=None, help="folder of named data sets, for SOURCE")
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="TOML with [text] [model] [train] [recall] [rank] tables (default: built-in)")
    parser.add_argument("--epochs", type=positive, default=None, metavar="N", help="override [train] epochs")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="override [train] seed")
    parser.add_argument("--k", type=positive, default=10, metavar="K",
                        help="recommendations written back per user (default: 10)")
    parser.add_argument("--model-name", default="kg_recsys", metavar="NAME",
                        help="`model` property of the RECOMMENDED relationships (default: kg_recsys)")
    parser.add_argument("--no-write-back", action="store_true", help="do not write vectors and RECOMMENDED")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--nproc", type=positive, default=1, metavar="N",
                        help="train the GNN data-parallel in N processes on this machine (torch.distributed: "
                             "gloo on CPU), each on its own share of the interactions, cores / N torch threads "
                             "each; rank 0 validates, trains the ranker, saves and writes back (default: 1). "
                             "Under torchrun leave it out: the launcher starts the processes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kg_recsys.training import distributed

    if distributed.launched():  # a rank started by torchrun (or by --nproc below)
        if args.nproc > 1:
            raise CliError("--nproc starts processes on this machine; under torchrun leave it out "
                           "(torchrun's --nproc-per-node sets them)")
        distributed.init_from_env()
        try:
            return _train(args)
        finally:
            distributed.leave()
    if args.nproc > 1:
        return _launch(args)
    return _train(args)


def _launch(args: argparse.Namespace) -> int:
    """``args`` in ``args.nproc`` local ranks; rank 0's exit code."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    from kg_recsys.training import distributed

    try:
        return distributed.launch(args.nproc, _train_rank, args)[0]
    except ChildFailedError as error:
        if any(failure.exitcode == 2 for failure in error.failures.values()):
            return 2  # a CliError, which the rank printed (the launcher then stopped the others)
        rank, failure = error.get_first_failure()
        raise CliError(f"training process {rank} failed (exit code {failure.exitcode}): "
                       f"{failure.message or 'see its traceback above'}") from None


def _train_rank(args: argparse.Namespace) -> int:
    """One rank of :func:`_launch`. A user's error ends the process with code 2, so the
    launcher stops the other ranks rather than leaving them waiting for this one."""
    from kg_recsys.training import distributed

    try:
        return _train(args)
    except CliError as error:
        distributed.log(f"kgrec train: error: {error}")
        sys.exit(2)


def _train(args: argparse.Namespace) -> int:
    from kg_recsys import Recommender
    from kg_recsys.cli.ingest import open_cli_store
    from kg_recsys.training import distributed

    world = distributed.current_world()
    config = build_config(args.config, args.epochs, args.seed, progress=not args.no_progress and world.is_main)
    started = time.perf_counter()
    summary: dict = {"store": args.store, "model_dir": args.model_dir}
    if world.size > 1:
        summary["processes"] = world.size
    # Every rank opens the store, but only rank 0 ingests and reads it: the others get
    # the graph from rank 0 (Recommender.fit).
    store = open_cli_store(args.store)
    try:
        if args.source and world.is_main:
            clock = time.perf_counter()
            summary["ingest"] = _ingest(args, store)
            summary["ingest"]["seconds"] = round(time.perf_counter() - clock, 2)
        if world.is_main:
            summary["nodes"] = store.counts()["nodes"]
        try:
            recommender = Recommender(config).fit(store)
        except ValueError as error:  # e.g. an empty store
            raise CliError(str(error)) from None
        if not world.is_main:
            return 0  # rank 0 saves, writes back and reports
        stages = dict(recommender.timings)
        clock = time.perf_counter()
        recommender.save(args.model_dir)
        stages["save"] = round(time.perf_counter() - clock, 2)
        history = recommender.fitted.history
        summary["epochs"] = len(history)
        summary["last_epoch"] = history[-1] if history else None
        summary["ranker_draws"] = recommender.fitted.ranker_history
        if not args.no_write_back:
            clock = time.perf_counter()
            summary["recommended_written"] = recommender.write_back(k=args.k, model=args.model_name)
            summary["model_name"] = args.model_name
            stages["write_back"] = round(time.perf_counter() - clock, 2)
        summary["stage_seconds"] = stages
    finally:
        store.close()
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary), flush=True)
    return 0


def _ingest(args: argparse.Namespace, store) -> dict:
    from ingest import IngestError, ingest_source
    from kg_recsys.schema import SchemaError
    from kg_recsys.store.rdf import RdfError

    try:
        result = ingest_source(args.source, store, data_dir=args.data_dir, progress=not args.no_progress)
    except (IngestError, RdfError, SchemaError) as error:
        raise CliError(str(error)) from None
    data = result.to_json()
    return {key: data[key] for key in ("source", "rows_read", "rejected")}
