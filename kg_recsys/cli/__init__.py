"""``kgrec``: the command line. Thin: each subcommand module parses its arguments and
calls the library. A subcommand module exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a callable taking the parsed arguments and returning an exit code."""
from __future__ import annotations

import argparse
import importlib
import sys

# One module per subcommand group; listed here so that --help shows them in this order.
_COMMANDS = ("ingest", "train", "evaluate", "recommend", "explain", "forget", "export", "neo4j", "demo")


class CliError(Exception):
    """An error the user can fix; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgrec",
        description="kg-recsys: knowledge-graph-enhanced recommendation (ingest -> graph -> text "
                    "features -> GNN -> recall -> ranking).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"kg_recsys.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"kg_recsys.cli.{name}":
                continue  # not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as error:
        print(f"kgrec {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
