"""Build, start, stop and query the project's own Neo4j server.

Its Maven project ships as package data (``kg_recsys/assets/neo4j-server``); :func:`build` copies
it into ``server/`` under the state folder and builds there, so an installed, read-only package
works as a checkout does.

The server is Neo4j Community 5.26 embedded in a small Java program: Bolt on 127.0.0.1,
auth on, password of user ``neo4j`` from ``KGREC_NEO4J_PASSWORD``. :func:`start` runs it as a
detached process (its own session, so it outlives the caller) with a pid file and a log file
under ``.kgrec/neo4j/`` and returns only once Bolt answers with that password.

Example::

    from kg_recsys import neo4j_server
    neo4j_server.start(port=7687)          # builds with Maven first if needed
    print(neo4j_server.status())
    neo4j_server.stop()
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kg_recsys.assets import asset

#: The server's Maven project (package data): ``pom.xml``, ``jvm.options``, ``src/``.
SERVER_SOURCES = asset("neo4j-server")
MAIN_CLASS = "org.kgrec.neo4j.Main"
PASSWORD_ENV = "KGREC_NEO4J_PASSWORD"
DEFAULT_BOLT_PORT = 7687
DEFAULT_HTTP_PORT = 7474

# Popen handles of servers started by this process, so that stop() can reap them (a child
# that exited stays a zombie, and looks alive to kill(pid, 0), until its parent waits on it).
_CHILDREN: dict[int, subprocess.Popen] = {}


class Neo4jServerError(RuntimeError):
    """The server could not be built, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    """What :func:`status` knows about the server."""

    running: bool
    pid: int | None = None
    bolt_uri: str | None = None
    browser_url: str | None = None
    home: str | None = None
    log: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def state_dir() -> Path:
    """Folder of the pid file, the log, the build and (by default) the database, as an absolute
    path: ``KGREC_NEO4J_STATE``, or ``.kgrec/neo4j`` in the current folder (as the caches)."""
    return Path(os.environ.get("KGREC_NEO4J_STATE") or Path(".kgrec") / "neo4j").absolute()


def server_dir() -> Path:
    """Where the server is built and run from: ``server/`` in :func:`state_dir`."""
    return state_dir() / "server"


def _pid_file() -> Path:
    return state_dir() / "neo4j.pid"


def _log_file() -> Path:
    return state_dir() / "neo4j.log"


# --------------------------------------------------------------------------------- build
def server_files(folder=SERVER_SOURCES, prefix: str = "") -> dict[str, bytes]:
    """The packaged Maven project, ``{relative path: bytes}`` (a stray ``target/`` left out)."""
    found: dict[str, bytes] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            if name != "target":
                found.update(server_files(entry, name + "/"))
        else:
            found[name] = entry.read_bytes()
    return found


def _sync_sources(folder: Path) -> list[Path]:
    """Copy the packaged sources into ``folder``, rewriting only files whose bytes differ (so a
    file's time says when its content last changed); returns the copied paths."""
    copied = []
    for name, data in server_files().items():
        target = folder / name
        if not target.is_file() or target.read_bytes() != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        copied.append(target)
    return copied


def _stale(folder: Path, sources: list[Path]) -> bool:
    main_class = folder / "target" / "classes" / "org" / "kgrec" / "neo4j" / "Main.class"
    lib = folder / "target" / "lib"
    if not main_class.exists() or not lib.is_dir() or not any(lib.glob("neo4j-5.*.jar")):
        return True
    built = main_class.stat().st_mtime
    return any(source.stat().st_mtime > built for source in sources)


def build(force: bool = False) -> Path:
    """Copy the packaged server sources to :func:`server_dir` and run ``mvn -q -B -DskipTests
    package`` there if the build is missing or older than its sources.

    Args:
        force: build even if the target looks up to date. (default: ``False``)

    Returns:
        The server's folder.
    """
    folder = server_dir()
    sources = _sync_sources(folder)
    if not force and not _stale(folder, sources):
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jServerError("Maven (mvn) is not on PATH; install Maven 3.8+ and Java 17 to build the Neo4j server")
    done = subprocess.run([mvn, "-q", "-B", "-DskipTests", "package"], cwd=folder,
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise Neo4jServerError(f"building the Neo4j server failed (mvn exit {done.returncode}):\n{tail}")
    return folder


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise Neo4jServerError("java is not on PATH (and JAVA_HOME is unset); install Java 17")
    return java


def _jvm_options() -> list[str]:
    lines = SERVER_SOURCES.joinpath("jvm.options").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


# --------------------------------------------------------------------------------- processes
def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process running our server (guards against pid reuse)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc (not Linux): trust the pid
    return MAIN_CLASS.encode() in cmdline


def _read_pid_file() -> dict | None:
    try:
        return json.loads(_pid_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _log_tail(lines: int = 40) -> str:
    try:
        text = _log_file().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def status() -> ServerStatus:
    """Whether the server started by :func:`start` is running, with its pid, URIs and files."""
    record = _read_pid_file()
    if not record or not _alive(int(record["pid"])):
        return ServerStatus(running=False, log=str(_log_file()))
    http = record.get("http_port") or 0
    return ServerStatus(
        running=True, pid=int(record["pid"]), bolt_uri=f"bolt://127.0.0.1:{record['bolt_port']}",
        browser_url=f"http://127.0.0.1:{http}/browser/" if http else None,
        home=record.get("home"), log=str(_log_file()),
    )


def start(port: int = DEFAULT_BOLT_PORT, data_dir: str | os.PathLike | None = None, wait_timeout: float = 180.0,
          *, http_port: int = DEFAULT_HTTP_PORT, password: str | None = None, pagecache: str = "512m") -> ServerStatus:
    """Build if needed, start the server detached and wait until Bolt answers.

    Args:
        port: Bolt port on 127.0.0.1. (default: ``7687``)
        data_dir: Neo4j home; the database lives in ``DATA_DIR/data``.
            (default: ``.kgrec/neo4j/home`` in the project root)
        wait_timeout: seconds to wait for Bolt to accept the password. (default: ``180``)
        http_port: port of the Neo4j Browser page, ``0`` for none. (default: ``7474``)
        password: password of user ``neo4j``. (default: ``$KGREC_NEO4J_PASSWORD``)
        pagecache: Neo4j page cache size, e.g. ``512m``. (default: ``"512m"``)

    Returns:
        The running server's :class:`ServerStatus`. If it is already running on ``port`` this
        returns at once.

    Raises:
        Neo4jServerError: no password, the port is taken, the build failed, or the server did
            not answer in time (the message ends with the tail of its log).
    """
    password = password or os.environ.get(PASSWORD_ENV)
    if not password or len(password) < 8:
        raise Neo4jServerError(f"set {PASSWORD_ENV} to the password for user neo4j (at least 8 characters)")
    current = status()
    if current.running:
        if current.bolt_uri == f"bolt://127.0.0.1:{port}":
            _wait_for_bolt(current.bolt_uri, password, wait_timeout, process=None)
            return current
        raise Neo4jServerError(f"the server is already running at {current.bolt_uri} (pid {current.pid}); "
                               "stop it first")
    for taken in (port, http_port):
        if taken and _port_in_use(taken):
            raise Neo4jServerError(f"port {taken} on 127.0.0.1 is already in use by another program")
    folder = build()
    home = Path(data_dir) if data_dir is not None else state_dir() / "home"
    home = home.resolve()
    # The database files are the user's data: readable by the owner only.
    for private in (state_dir(), home):
        private.mkdir(parents=True, exist_ok=True)
        private.chmod(0o700)
    command = [_java(), *_jvm_options(), "-cp", f"{folder / 'target' / 'classes'}{os.pathsep}"
               f"{folder / 'target' / 'lib' / '*'}", MAIN_CLASS, "--home", str(home),
               "--bolt-port", str(port), "--http-port", str(http_port), "--pagecache", pagecache]
    env = {**os.environ, PASSWORD_ENV: password}
    with open(_log_file(), "ab") as log:
        log.write(f"\n=== kgrec neo4j start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        log.flush()
        process = subprocess.Popen(command, cwd=state_dir(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    _CHILDREN[process.pid] = process
    _pid_file().write_text(json.dumps({"pid": process.pid, "bolt_port": port, "http_port": http_port,
                                       "home": str(home), "pagecache": pagecache}), encoding="utf-8")
    uri = f"bolt://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        _wait_for_bolt(uri, password, wait_timeout, process=process)
        if http_port:
            _wait_for_http(http_port, max(wait_timeout - (time.monotonic() - started), 5.0))
    except Neo4jServerError:
        stop(timeout=30)
        raise
    return status()


def _wait_for_bolt(uri: str, password: str, timeout: float, process: subprocess.Popen | None) -> None:
    from kg_recsys.store.neo4j import check_connectivity

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Neo4jServerError(f"the Neo4j server exited with code {process.returncode} before Bolt answered; "
                                   f"log {_log_file()}:\n{_log_tail()}")
        try:
            check_connectivity(uri, password=password)
            return
        except Exception as error:  # not up yet, or the password is not set yet
            last_error = error
        time.sleep(0.5)
    raise Neo4jServerError(f"Bolt at {uri} did not answer within {timeout:.0f}s (last error: {last_error}); "
                           f"log {_log_file()}:\n{_log_tail()}")


def _wait_for_http(port: int, timeout: float) -> None:
    """Until the HTTP connector (Neo4j Browser) answers: Bolt can come up first."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # an HTTP answer, whatever its status, means the connector is up
        except OSError:
            time.sleep(0.5)
    raise Neo4jServerError(f"the Neo4j Browser port {port} did not answer within {timeout:.0f}s; log {_log_file()}")


def stop(timeout: float = 60.0) -> bool:
    """Stop the server (SIGTERM, so its shutdown hook closes the store cleanly; SIGKILL after
    ``timeout`` seconds). Returns whether a server was running."""
    record = _read_pid_file()
    if not record:
        return False
    pid = int(record["pid"])
    was_running = _alive(pid)
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()
    _pid_file().unlink(missing_ok=True)
    return was_running


# --------------------------------------------------------------------------------- offline import
#: Neo4j's admin CLI (``neo4j-admin``), from the neo4j-command-line jar; the import command comes
#: from the neo4j-import-tool jar, found by the CLI as a service.
ADMIN_CLASS = "org.neo4j.cli.AdminTool"


def _import_log() -> Path:
    return state_dir() / "import.log"


def import_database(files, database: str = "neo4j", *, threads: int | None = None,
                    max_off_heap_memory: str = "1g", wait_timeout: float = 300.0,
                    timings: dict[str, float] | None = None) -> ServerStatus:
    """Replace ``database`` of the running server with the CSV ``files`` through Neo4j's own
    importer: stop the server, run ``neo4j-admin database import full --overwrite-destination``
    in a JVM of its own on the server's classpath, then start the server again on the same
    ports, home and page cache. The caller checks that the database is empty first (the import
    replaces it whole) and creates the constraints and indexes afterwards (the import makes none).

    Args:
        files: a :class:`~kg_recsys.store.neo4j_import.ImportFiles`, or a callable that writes
            the files and returns them: it is called while the server is stopping (a shutdown
            takes seconds, spent waiting), so writing the files costs no time of its own.
        database: the database to replace. (default: ``"neo4j"``)
        threads: importer threads. (default: the importer's, one per core)
        max_off_heap_memory: the importer's off-heap limit, e.g. ``1g``; its own default is 90%
            of the machine's memory, too much on a shared box. (default: ``"1g"``)
        wait_timeout: seconds to wait for Bolt after the restart. (default: ``300``)
        timings: if given, filled with the seconds of ``stop``, ``importer`` and ``start``, and
            with a callable ``files``, of ``write`` (the callable, run during ``stop``) and
            ``stop_and_write`` (the two together, wall clock). (default: ``None``)

    Returns:
        The restarted server's :class:`ServerStatus`.

    Raises:
        Neo4jServerError: the server was not started by :func:`start`, or the importer failed
            (the server is started again all the same; the message ends with the importer's log).
        Exception: whatever a callable ``files`` raises (the server is started again first).
    """
    record = _read_pid_file()
    if not record or not _alive(int(record["pid"])):
        raise Neo4jServerError("no Neo4j server started by `kgrec neo4j start` is running here "
                               f"(state folder {state_dir()}); start it first")
    home = Path(record["home"])
    restart = {"port": int(record["bolt_port"]), "data_dir": home, "http_port": int(record.get("http_port") or 0),
               "pagecache": record.get("pagecache") or "512m", "wait_timeout": wait_timeout}
    folder = build()
    timings = timings if timings is not None else {}
    step = time.perf_counter()
    if callable(files):
        files = _write_while_stopping(files, restart, timings)
    else:
        stop()
        timings["stop"] = time.perf_counter() - step
    command = [_java(), *_jvm_options(), "-cp", f"{folder / 'target' / 'classes'}{os.pathsep}"
               f"{folder / 'target' / 'lib' / '*'}", ADMIN_CLASS, "database", "import", "full", database,
               # the database was checked empty; the flag lets the importer replace its (empty) files
               "--overwrite-destination=true",
               # fail on the first bad entry: the rows were validated, so one means a bug here
               "--bad-tolerance=0", "--skip-bad-relationships=false", "--skip-duplicate-nodes=false",
               f"--max-off-heap-memory={max_off_heap_memory}", f"--report-file={state_dir() / 'import.report'}"]
    if threads:
        command.append(f"--threads={int(threads)}")
    if files.multiline:
        command += ["--multiline-fields-format=v2", "--multiline-fields=" + ",".join(str(p) for p in files.multiline)]
    command += [f"--nodes={label}={path}" for label, path in files.nodes]
    command += [f"--relationships={kind + '=' if kind else ''}{path}" for kind, path in files.relationships]
    # The embedded server's home is a Neo4j home without conf/: the importer's defaults then
    # put the database where the server reads it (HOME/data/databases, HOME/data/transactions).
    env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
    try:
        step = time.perf_counter()
        with open(_import_log(), "wb") as log:
            done = subprocess.run(command, cwd=state_dir(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT)
        timings["importer"] = time.perf_counter() - step
    finally:
        step = time.perf_counter()
        start(**restart)
        timings["start"] = time.perf_counter() - step
    if done.returncode != 0:
        lines = _import_log().read_text(encoding="utf-8", errors="replace").splitlines()
        tail = "\n".join(line for line in lines if not line.startswith(("....", "-...")))[-3000:]
        raise Neo4jServerError(f"neo4j-admin database import failed (exit {done.returncode}); log "
                               f"{_import_log()}:\n{tail}")
    return status()


def _write_while_stopping(write, restart: dict, timings: dict[str, float]):
    """Stop the server in a thread while ``write()`` runs here; returns what it returned. If it
    raises, the server is started again (once stopped) before the error goes on."""
    import threading

    began = time.perf_counter()
    failure: list[BaseException] = []

    def stopping() -> None:
        try:
            stop()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            failure.append(error)
        timings["stop"] = time.perf_counter() - began

    stopper = threading.Thread(target=stopping, name="neo4j-stop", daemon=True)
    stopper.start()
    try:
        files = write()
        timings["write"] = time.perf_counter() - began
    except BaseException:
        stopper.join()
        if not status().running:
            start(**restart)
        raise
    finally:
        stopper.join()
        timings["stop_and_write"] = time.perf_counter() - began
    if failure:
        raise failure[0]
    return files
