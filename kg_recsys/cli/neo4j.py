"""``kgrec neo4j build|start|stop|status``: the project's own Neo4j server."""
from __future__ import annotations

import argparse
import json

from kg_recsys import neo4j_server
from kg_recsys.cli import CliError

_DESCRIPTION = """\
Run the project's Neo4j server: Neo4j Community 5.26 embedded (a Maven project shipped with the
package, built on first use), Bolt on 127.0.0.1, auth on. The password of user neo4j comes from
KGREC_NEO4J_PASSWORD (at least 8 characters) and is applied on every start. The pid file, the
log, the build and the database live under .kgrec/neo4j/ in the current folder
(KGREC_NEO4J_STATE moves them).

examples:
  export KGREC_NEO4J_PASSWORD=change-me-please
  kgrec neo4j start                 # waits until Bolt answers, prints a JSON status line
  kgrec ingest ml-100k-kg --data-dir DATA --store bolt://127.0.0.1:7687
  kgrec neo4j status                # exit 0 if running, 3 if not
  kgrec neo4j stop
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("neo4j", help="start, stop or query the project's Neo4j server",
                                   description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="build if needed, start in the background, wait for Bolt",
                               description="Build the server if needed, start it detached and wait until Bolt "
                                           "accepts the password from KGREC_NEO4J_PASSWORD.")
    start.add_argument("--port", type=int, default=neo4j_server.DEFAULT_BOLT_PORT,
                       help="Bolt port on 127.0.0.1 (default: %(default)s)")
    start.add_argument("--http-port", type=int, default=neo4j_server.DEFAULT_HTTP_PORT,
                       help="port serving Neo4j Browser at /browser/, 0 for none (default: %(default)s)")
    start.add_argument("--data-dir", default=None,
                       help="Neo4j home folder; the database is in DATA_DIR/data (default: .kgrec/neo4j/home)")
    start.add_argument("--pagecache", default="512m", help="page cache size, e.g. 256m or 1g (default: %(default)s)")
    start.add_argument("--timeout", type=float, default=180.0,
                       help="seconds to wait for Bolt before giving up (default: %(default)s)")
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="stop the server (clean shutdown, killed after --timeout)",
                              description="Stop the server: SIGTERM so the store shuts down cleanly, "
                                          "SIGKILL after --timeout seconds.")
    stop.add_argument("--timeout", type=float, default=60.0, help="seconds before SIGKILL (default: %(default)s)")
    stop.set_defaults(func=_stop)

    state = actions.add_parser("status", help="print a JSON status line; exit 0 if running, 3 if not",
                               description="Print the server's status as one JSON line. Exit code 0 if it is "
                                           "running, 3 if it is not.")
    state.set_defaults(func=_status)

    build = actions.add_parser("build", help="build the server with Maven (start does this when needed)",
                               description="Copy the packaged Maven project to .kgrec/neo4j/server and run "
                                           "`mvn -q -DskipTests package` there.")
    build.add_argument("--force", action="store_true", help="build even if the target looks up to date")
    build.set_defaults(func=_build)


def _start(args: argparse.Namespace) -> int:
    try:
        current = neo4j_server.start(port=args.port, data_dir=args.data_dir, wait_timeout=args.timeout,
                                     http_port=args.http_port, pagecache=args.pagecache)
    except neo4j_server.Neo4jServerError as error:
        raise CliError(str(error)) from error
    print(json.dumps(current.to_json()))
    return 0


def _stop(args: argparse.Namespace) -> int:
    was_running = neo4j_server.stop(timeout=args.timeout)
    print(json.dumps({"stopped": was_running}))
    return 0


def _status(args: argparse.Namespace) -> int:
    current = neo4j_server.status()
    print(json.dumps(current.to_json()))
    return 0 if current.running else 3


def _build(args: argparse.Namespace) -> int:
    try:
        folder = neo4j_server.build(force=args.force)
    except neo4j_server.Neo4jServerError as error:
        raise CliError(str(error)) from error
    print(json.dumps({"built": str(folder / "target")}))
    return 0
