"""``kgrec ingest SOURCE``: load a dataset into a graph store and print one JSON line."""
from __future__ import annotations

import argparse
import json
import textwrap

from kg_recsys.cli import CliError

STORE_HELP = "memory (folder .kgrec/graph), memory:PATH, or bolt://HOST:PORT (default: memory)"

_EPILOG = """\
examples:
  kgrec ingest demo                                   # the synthetic demo data into .kgrec/graph
  kgrec ingest my-data/ --store memory:graph          # a canonical folder: interactions.csv, items.csv...
  kgrec ingest my-data/ --encoding latin-1 --rejects rejects.csv
  kgrec ingest ml-100k-kg --data-dir DATA             # a named data set (or set KGREC_DATA_DIR=DATA)
  kgrec ingest graph.ttl --store bolt://127.0.0.1:7687
  kgrec ingest ml-1m --store bolt://127.0.0.1:7687 --bulk   # first load of an empty database, offline importer
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ingest", help="load a dataset into the graph store",
        description=textwrap.fill("Ingest SOURCE into a graph store and print one JSON line with the node and relationship "
                    "counts by type and the number of rejected rows. SOURCE is a canonical dataset folder, an "
                    ".ttl/.nt file, 'demo' (or demo:SEED), or a dataset name: lastfm-kg, ml-100k-kg, "
                    "ml-100k-kg-relinked (its KG links re-keyed through ml-1m/movies.dat), ml-1m, douban-cdr, "
                    "amazon-cdr-ids/<pair>, amazon-food-kitchen (read from --data-dir). Re-running changes no count.", break_on_hyphens=False),
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("--store", default="memory", help=STORE_HELP)
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the named data sets (default: $KGREC_DATA_DIR)")
    parser.add_argument("--rejects", default=None, metavar="FILE",
                        help="CSV file for rejected rows (default: .kgrec/rejects/<source>.csv when any)")
    parser.add_argument("--batch-size", type=int, default=5000, metavar="N",
                        help="rows per store write (default: 5000)")
    parser.add_argument("--encoding", default=None, metavar="NAME",
                        help="character encoding of a canonical folder's CSV files, e.g. latin-1 (default: UTF-8, "
                             "with or without a BOM; a row that does not decode is rejected)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--bulk", action="store_true",
                        help="load an EMPTY Neo4j database (--store bolt://...) with Neo4j's offline importer "
                             "(neo4j-admin database import full): validates the rows as usual, stops the project's "
                             "server, imports, starts it again and creates the constraints; ml-1m: 70 s instead of "
                             "150 s (about 35 s of it the restart and the index build), so it pays off for large "
                             "first loads; refused for a non-empty database")
    parser.set_defaults(func=run)


def open_cli_store(uri: str):
    from kg_recsys.store import open_store

    try:
        return open_store(uri)
    except ValueError as error:
        raise CliError(str(error)) from None
    except Exception as error:  # connection refused, auth failure: the user fixes those
        if uri.startswith(("bolt", "neo4j")):
            raise CliError(f"cannot open store {uri}: {error}") from None
        raise


def run(args: argparse.Namespace) -> int:
    from ingest import IngestError, ingest_source
    from kg_recsys.schema import SchemaError
    from kg_recsys.store.memory import StoreLockedError
    from kg_recsys.store.rdf import RdfError

    if args.batch_size < 1:
        raise CliError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.bulk:
        return _run_bulk(args)
    store = open_cli_store(args.store)
    try:
        summary = ingest_source(args.source, store, data_dir=args.data_dir, rejects_path=args.rejects,
                                batch_size=args.batch_size, progress=not args.no_progress, encoding=args.encoding)
    except (IngestError, RdfError, SchemaError, StoreLockedError) as error:
        raise CliError(str(error)) from None
    finally:
        store.close()
    print(json.dumps(summary.to_json(), ensure_ascii=False), flush=True)
    return 0


def _run_bulk(args: argparse.Namespace) -> int:
    from ingest import IngestError
    from ingest.bulk import bulk_ingest_source
    from kg_recsys.neo4j_server import Neo4jServerError
    from kg_recsys.schema import SchemaError
    from kg_recsys.store.base import StoreConnectionError
    from kg_recsys.store.rdf import RdfError

    if not args.store.startswith(("bolt://", "neo4j://")):
        raise CliError(f"--bulk loads a Neo4j database: give --store bolt://HOST:PORT, not {args.store!r} "
                       "(the embedded store needs no bulk mode)")
    try:
        summary = bulk_ingest_source(args.source, args.store, data_dir=args.data_dir, rejects_path=args.rejects,
                                     progress=not args.no_progress, encoding=args.encoding)
    except (IngestError, RdfError, SchemaError, StoreConnectionError) as error:
        raise CliError(str(error)) from None
    except Neo4jServerError as error:
        raise CliError(str(error)) from error
    print(json.dumps(summary.to_json(), ensure_ascii=False), flush=True)
    return 0
