"""``kgrec evaluate SOURCE --protocol ...``: split, fit every model, rank, write JSON, print a table."""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from kg_recsys.cli import CliError
from kg_recsys.cli.train import build_config

_DESCRIPTION = """\
Evaluate kg-recsys and the baselines on one split of SOURCE, in one harness: every model is
fitted on the same training graph and ranks ALL candidate items for every test user (no
sampled metrics); items a user already has are excluded. Writes a JSON file and prints a table.

protocols:
  warm            per-user random 80/10/10 (--temporal: latest 10% of each user are test)
  cold-item       20% of the items with interactions held out with all their interactions;
                  they keep their text and KG links; candidates = the held-out items
  hybrid          the cold-item hold-out plus 10% of each user's other items, ranked together
                  (ALDI's protocol); candidates = all items; adds cold_share@K, the share
                  of each top-K list that is cold
  cold-user       20% of users held out; at most --cold-user-context of their interactions
                  are revealed at test time (0 = profile only); candidates = all items
  cross-scenario  users active in --source-scenario and --target-scenario; some of them lose
                  their target history, which becomes test; candidates = target items

examples:
  kgrec evaluate ml-100k-kg --protocol cold-item --out results/ml100k-cold-item.json
  kgrec evaluate douban-cdr --protocol cross-scenario --source-scenario book --target-scenario music
  kgrec evaluate amazon-food-kitchen --protocol cross-scenario --source-scenario food --target-scenario kitchen
  kgrec evaluate ./my-canonical-folder --protocol warm --models popularity,lightgcn --k 10
  # after changing the model, re-run only it and keep the baselines already in the file:
  kgrec evaluate ml-100k-kg --protocol warm --models kg_recsys --merge --out results/warm.json
  # the same split, trained from another seed (how much of a result is the training's luck):
  kgrec evaluate douban-cdr --protocol cross-scenario --source-scenario music \\
      --target-scenario book --seed 1 --model-seed 101 --models kg_recsys,popularity
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from kg_recsys.evaluation.splits import PROTOCOLS

    parser = subparsers.add_parser("evaluate", help="compare kg-recsys with baselines on one split protocol",
                                   description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE",
                        help="a canonical dataset folder, or a dataset name (lastfm-kg, ml-100k-kg, "
                             "ml-100k-kg-relinked, ml-1m, douban-cdr, amazon-cdr-ids/<pair>, amazon-food-kitchen, "
                             "demo) read from --data-dir")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--source-scenario", default=None, metavar="A", help="cross-scenario: the known scenario")
    parser.add_argument("--target-scenario", default=None, metavar="B", help="cross-scenario: the tested scenario")
    parser.add_argument("--k", type=int, default=20, help="cut-off of every metric (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of every model (default: 0)")
    parser.add_argument("--model-seed", type=int, default=None, metavar="N",
                        help="seed of the models' training instead of --seed; the split stays that of --seed, so "
                             "runs with several model seeds show how much training alone moves a result "
                             "(recorded in the result file)")
    parser.add_argument("--out", default=None, metavar="FILE.json",
                        help="result file (default: results/<dataset>-<protocol>-seed<N>.json, or "
                             "...-seed<N>-model<M>.json with --model-seed M)")
    parser.add_argument("--models", default=None, metavar="A,B,...",
                        help="comma-separated model names, or 'all' for every registered one (default: "
                             "kg_recsys,popularity,bpr_mf,lightgcn,text_knn,kg_only,user_knn; ablations: "
                             "kg_recsys_no_kg,kg_recsys_no_text,kg_recsys_no_gnn)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the named data sets (default: $KGREC_DATA_DIR)")
    parser.add_argument("--cache-dir", default=".kgrec/cache", help="snapshot cache folder (default: %(default)s)")
    parser.add_argument("--cold-fraction", type=float, default=0.2,
                        help="cold-item/hybrid/cold-user: fraction held out (default: %(default)s)")
    parser.add_argument("--cold-user-context", type=int, default=3,
                        help="cold-user: interactions revealed per held-out user (default: %(default)s)")
    parser.add_argument("--cross-user-fraction", type=float, default=0.4,
                        help="cross-scenario: fraction of the users active in both that become test users "
                             "(default: %(default)s)")
    parser.add_argument("--temporal", action="store_true",
                        help="warm: test each user's latest items; cold-user: reveal the earliest")
    parser.add_argument("--merge", action="store_true",
                        help="add the results to an existing --out file (same dataset, protocol, seed, model seed, k "
                             "and split), replacing models of the same name and keeping the others")
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="settings of kg_recsys and its ablations, as for `kgrec train` (default: the "
                             "defaults); recorded in the result file. --seed (or --model-seed) still seeds every model")
    parser.add_argument("--ild", action="store_true",
                        help="also report ild@K, intra-list diversity over the items' text vectors (one space "
                             "for every model; encodes item text once, cached)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def parse_models(text: str | None) -> tuple[list[str], bool]:
    """Model names from ``--models``; the flag says whether they were asked for explicitly."""
    from kg_recsys.evaluation.registry import DEFAULT_MODELS, SCORERS

    if text is None:
        return list(DEFAULT_MODELS), False
    if text.strip() == "all":
        return list(SCORERS), True
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCORERS]
    if unknown or not names:
        raise CliError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; registered: {', '.join(SCORERS)}")
    if len(set(names)) != len(names):
        raise CliError(f"--models lists a name twice: {text}")
    return names, True


def dataset_name(source: str) -> str:
    path = Path(source)
    return path.name if path.exists() else source


def run(args: argparse.Namespace) -> int:
    from kg_recsys.evaluation import EvalContext, create_scorer, evaluate, format_table, make_split
    from kg_recsys.evaluation.splits import SplitError

    if args.k < 1:
        raise CliError(f"--k must be a positive integer, got {args.k}")
    names, explicit = parse_models(args.models)
    if args.protocol != "cross-scenario" and (args.source_scenario or args.target_scenario):
        raise CliError("--source-scenario/--target-scenario apply to --protocol cross-scenario only")

    config = build_config(args.config) if args.config else None
    context = EvalContext(args.protocol, args.source_scenario, args.target_scenario, progress=not args.no_progress,
                          config=config)
    scorers = []
    for name in names:
        try:
            scorers.append(create_scorer(name, context))
        except ImportError as error:  # a model whose module is not built (or not installed)
            if explicit:
                raise CliError(f"model {name!r} is not available: {error}") from None
            print(f"kgrec evaluate: skipping {name!r} (not available: {error})", file=sys.stderr)
    if not scorers:
        raise CliError("no model to evaluate")

    name = dataset_name(args.source)
    model = "" if args.model_seed is None else f"-model{args.model_seed}"  # one file per fit, none overwritten
    out = Path(args.out or f"results/{name.replace('/', '_')}-{args.protocol}-seed{args.seed}{model}.json")
    previous = _previous_result(out) if args.merge else None

    started = time.perf_counter()
    snapshot = _load(args)
    loaded = time.perf_counter()
    try:
        split = make_split(snapshot, args.protocol, args.seed, source_scenario=args.source_scenario,
                           target_scenario=args.target_scenario, cold_fraction=args.cold_fraction,
                           cold_user_context=args.cold_user_context, cross_user_fraction=args.cross_user_fraction,
                           temporal=args.temporal)
    except SplitError as error:
        raise CliError(str(error)) from None
    if len(split.test) == 0:
        raise CliError("the split has no test interactions")
    print(f"kgrec evaluate: {json.dumps(split.summary())}", file=sys.stderr, flush=True)
    if previous is not None:
        _check_mergeable(previous, out, name, args, split.summary(), config)

    item_vectors = None
    if args.ild:
        from kg_recsys.evaluation.baselines import default_text_vectors
        from kg_recsys.schema import ITEM

        item_vectors = default_text_vectors(split.context)[ITEM]
    result = evaluate(split, scorers, k=args.k, seed=args.seed, progress=not args.no_progress,
                      model_seed=args.model_seed, item_vectors=item_vectors)
    result = {"dataset": name, **result, "seed": args.seed,
              **({} if args.model_seed is None else {"model_seed": args.model_seed}), "config": _recorded(config),
              "load_seconds": round(loaded - started, 3), "total_seconds": round(time.perf_counter() - started, 3)}
    out.parent.mkdir(parents=True, exist_ok=True)
    # --merge merges with the file as it is now, under a lock beside it: another --merge run
    # into the same file may have finished since this one read it, and its models must stay.
    with (open(out.with_name(out.name + ".lock"), "w") if previous is not None else contextlib.nullcontext()) as lock:
        if previous is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            previous = _previous_result(out)
            _check_mergeable(previous, out, name, args, split.summary(), config)
            for key in ("models", "seconds", "training", "candidate_recall"):
                merged = {**previous.get(key, {}), **result.get(key, {})}
                if merged:  # "training" and "candidate_recall" only where a model records them
                    result[key] = merged
        temporary = out.with_name(out.name + f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, out)
    print(format_table(result))
    print(f"wrote {out}")
    return 0


def _previous_result(out: Path) -> dict:
    try:
        return json.loads(out.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"--merge: {out} does not exist; run without --merge first") from None
    except json.JSONDecodeError as error:
        raise CliError(f"--merge: {out} is not a result file ({error})") from None


def _recorded(config) -> dict | None:
    """What the result file records of ``config``: the settings that differ from the defaults."""
    return None if config is None else config.changed_settings()


def _check_mergeable(previous: dict, out: Path, name: str, args: argparse.Namespace, split: dict,
                     config) -> None:
    """Results of different splits must never share a table."""
    expected = {"dataset": name, "protocol": args.protocol, "seed": args.seed, "model_seed": args.model_seed,
                "k": args.k, "split": split, "config": _recorded(config)}
    for key, value in expected.items():
        if previous.get(key) != value:
            raise CliError(f"--merge: {out} has {key}={json.dumps(previous.get(key))}, this run has "
                           f"{json.dumps(value)}; write to another --out file")


def _load(args: argparse.Namespace):
    from ingest import IngestError, load_snapshot
    from kg_recsys.schema import SchemaError

    try:
        return load_snapshot(args.source, data_dir=args.data_dir, cache_dir=args.cache_dir,
                             progress=not args.no_progress)
    except (IngestError, SchemaError, FileNotFoundError) as error:
        raise CliError(str(error)) from None
