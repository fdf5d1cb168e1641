"""``kgrec``: the command line. Thin: each subcommand module parses its arguments and
calls the library. A subcommand module exposes ``register(subparsers)``, which adds its
parser and sets ``func`` to a callable taking the parsed arguments and returning an exit code."""
from __future__ import annotations

import argparse
import importlib
import logging
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
    # The Neo4j driver logs each retry and each dead connection (warnings and errors, several
    # lines each) through logging's last-resort stderr handler; a server that stays away ends in
    # the store's own one-line StoreConnectionError instead. A configured root logger still gets them.
    driver_log = logging.getLogger("neo4j")
    if not driver_log.handlers:  # main() runs more than once in the tests' process
        driver_log.addHandler(logging.NullHandler())
    try:
        return int(args.func(args) or 0)
    except CliError as error:
        message = str(error)
    except ValueError as error:
        # A store lost mid-command (Neo4j stopped during an ingest) is the user's to fix too.
        # Imported here, not above: the store module loads numpy, which most commands' --help need not.
        from kg_recsys.store.base import StoreConnectionError

        if not isinstance(error, StoreConnectionError):
            raise
        message = str(error)
    print(f"kgrec {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
