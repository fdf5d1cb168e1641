"""``kgrec export``: write the graph store as RDF (Turtle or N-Triples)."""
from __future__ import annotations

import argparse
import json
import textwrap

from kg_recsys.cli import CliError


_EPILOG = """\
examples:
  kgrec export --out graph.ttl                               # the default store (.kgrec/graph), Turtle
  kgrec export --store memory:graph --format nt --out graph.nt
  kgrec export --store bolt://127.0.0.1:7687 --out neo4j.ttl
  kgrec ingest graph.ttl --store memory:copy                 # and back again
"""


def register(subparsers) -> None:
    from kg_recsys.cli.ingest import STORE_HELP

    parser = subparsers.add_parser(
        "export", help="write the graph as RDF",
        description=textwrap.fill("Export the graph in the store as RDF in the kg-recsys vocabulary (kg_recsys/assets/"
                    "ontology.ttl). The file can be ingested again with `kgrec ingest FILE`.", break_on_hyphens=False),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default="memory", help=STORE_HELP)
    parser.add_argument("--format", choices=("turtle", "nt"), default="turtle", help="RDF syntax (default: turtle)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kg_recsys.cli.ingest import open_cli_store
    from kg_recsys.store.rdf import export_rdf

    store = open_cli_store(args.store)
    try:
        try:
            triples = export_rdf(store, args.out, args.format)
        except OSError as error:
            raise CliError(f"cannot write {args.out}: {error.strerror or error}") from None
        counts = store.counts()
    finally:
        store.close()
    print(json.dumps({"out": args.out, "format": args.format, "triples": triples, **counts}), flush=True)
    return 0
