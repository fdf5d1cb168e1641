"""``kgrec forget USER``: remove a user from the store, the text cache and the model."""
from __future__ import annotations

import argparse
import json

from kg_recsys.cli import CliError
from kg_recsys.cli.train import add_store_options, load_model

_EPILOG = """\
examples:
  kgrec forget u001                                   # the embedded store and .kgrec/model
  kgrec forget u001 --store bolt://127.0.0.1:7687     # Neo4j (set KGREC_NEO4J_PASSWORD)
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "forget", help="remove a user and everything recorded about them",
        description="Delete USER from the store (the node, its interactions, its RECOMMENDED relationships and "
                    "its vectors), drop its profile text from the text cache and its id embedding from the "
                    "model, re-embed the graph without it, and save the model folder again. Prints one JSON line.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("user", metavar="USER", help="the user id")
    add_store_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kg_recsys.cli.ingest import open_cli_store

    store = open_cli_store(args.store)
    try:
        recommender = load_model(args.model_dir, store)
        try:
            recommender.forget_user(args.user)
        except KeyError as error:
            raise CliError(f"{error.args[0]} ({args.store})") from None
        recommender.save(args.model_dir)
    finally:
        store.close()
    print(json.dumps({"forgotten": args.user, "store": args.store, "model_dir": args.model_dir}))
    return 0
