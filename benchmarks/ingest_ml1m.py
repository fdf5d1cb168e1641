"""Benchmark: ingest ml-1m (1,000,209 ratings plus its attribute and KG edges) into Neo4j and into
the embedded store; report relationships/s, wall time and peak memory.

Each store runs in its own Python process (so peak RSS is per store), twice: a fresh load, then
the same ingestion again (idempotence: every count must stay the same). Neo4j is the project's
own server, started for the benchmark on a separate port and state folder (so it never touches
the development database) and stopped afterwards; its JVM's peak RSS and CPU time are measured
from /proc. The machine is shared and small (2 cores), so the load average and CPU seconds of
both processes are recorded next to the wall-clock rates.

    python benchmarks/ingest_ml1m.py [--data-dir ../shared/data] [--stores memory,neo4j,bulk]
        [--port 7697 --state .kgrec/bench-neo4j] [--fresh-only] [--no-save]

``--port``/``--state`` put the benchmark's server on another port and state folder (its ``home/``
there is deleted before and after each store); ``--stores bulk --fresh-only --no-save`` times one
bulk load and prints it without touching the results files.

``bulk`` is ``kgrec ingest --bulk`` (Neo4j's offline importer, on a fresh server of its own): the
fresh run is the bulk load, timed by step (reading and validating into CSVs, stopping the server,
the importer alone, starting it, building the constraints and indexes); the second run is a
transactional ingest on top of it, which must change no count. Its counts are compared with the
transactional store's when both run.

Writes benchmarks/results/ingest_ml1m.json and benchmarks/results/ingest_ml1m.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH_PORT = 7697
BENCH_STATE = ROOT / ".kgrec" / "bench-neo4j"


def _proc_stat(pid: int) -> dict:
    """CPU seconds and peak RSS (VmHWM) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {"cpu_s": (int(fields[11]) + int(fields[12])) / ticks,
            "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024, "rss_mb": int(status["VmRSS"].split()[0]) / 1024}


def _total(counts: dict) -> int:
    return sum(counts.values())


# ------------------------------------------------------------------------------ one store, in a child process
def worker(store_name: str, data_dir: str, batch_size: int, uri: str | None, jvm_pid: int | None,
           fresh_only: bool = False) -> dict:
    from ingest import ingest_source

    if store_name == "memory":
        from kg_recsys.store.memory import MemoryStore

        folder = tempfile.mkdtemp(prefix="kgrec-bench-")
        store = MemoryStore(folder)
    else:
        from kg_recsys.store.neo4j import Neo4jStore

        folder = None
        # neo4j-serial: one write transaction at a time (the store's writers=1), the baseline of writers=2
        store = Neo4jStore(uri, batch_size=batch_size, writers=1 if store_name == "neo4j-serial" else 2)
        store.clear()
    if store_name == "bulk":
        return bulk_worker(data_dir, batch_size, uri, fresh_only)
    runs = []
    try:
        for label in ("fresh",) if fresh_only else ("fresh", "rerun"):
            jvm_before = _proc_stat(jvm_pid) if jvm_pid else None
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            summary = ingest_source("ml-1m", store, data_dir=data_dir, batch_size=batch_size, progress=False)
            wall = time.perf_counter() - wall_before
            run = {"run": label, "seconds": round(wall, 2), "nodes": summary.nodes,
                   "relationships": summary.relationships, "total_relationships": _total(summary.relationships),
                   "rows_read": summary.rows_read, "rejected": summary.rejected,
                   "relationships_per_s": round(_total(summary.relationships) / wall),
                   "python_cpu_s": round(time.process_time() - cpu_before, 1),
                   "load_average_after": [round(x, 2) for x in os.getloadavg()]}
            if jvm_pid:
                jvm_after = _proc_stat(jvm_pid)
                run["jvm_cpu_s"] = round(jvm_after["cpu_s"] - jvm_before["cpu_s"], 1)
                run["jvm_peak_rss_mb"] = round(jvm_after["peak_rss_mb"])
            runs.append(run)
            print(f"[{store_name}] {label}: {run['total_relationships']:,} relationships in {wall:.1f}s "
                  f"= {run['relationships_per_s']:,}/s", file=sys.stderr, flush=True)
    finally:
        store.close()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
    return {"store": store_name, "runs": runs,
            "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "counts_unchanged_on_rerun": None if len(runs) < 2 else runs[0]["nodes"] == runs[1]["nodes"]
            and runs[0]["relationships"] == runs[1]["relationships"]}


def bulk_worker(data_dir: str, batch_size: int, uri: str, fresh_only: bool = False) -> dict:
    """The bulk load, then a transactional ingest on top of it (idempotence)."""
    from ingest import ingest_source
    from ingest.bulk import bulk_ingest_source
    from kg_recsys.store.neo4j import Neo4jStore

    runs = []
    timings: dict[str, float] = {}
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    summary = bulk_ingest_source("ml-1m", uri, data_dir=data_dir, progress=False, timings=timings)
    wall = time.perf_counter() - wall_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the importer's JVM (the server is not waited on)
    total = _total(summary.relationships)
    runs.append({"run": "fresh (bulk)", "seconds": round(wall, 2), "nodes": summary.nodes,
                 "relationships": summary.relationships, "total_relationships": total,
                 "rows_read": summary.rows_read, "rejected": summary.rejected, "relationships_per_s": round(total / wall),
                 "importer_relationships_per_s": round(total / timings["importer"]),
                 "steps_s": {k: round(v, 2) for k, v in timings.items()},
                 "python_cpu_s": round(time.process_time() - cpu_before, 1),
                 "jvm_cpu_s": round(children.ru_utime + children.ru_stime, 1),
                 "jvm_peak_rss_mb": round(children.ru_maxrss / 1024),
                 "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    print(f"[bulk] fresh: {total:,} relationships in {wall:.1f}s = {round(total / wall):,}/s end to end, "
          f"importer alone {timings['importer']:.1f}s = {round(total / timings['importer']):,}/s; steps {timings}",
          file=sys.stderr, flush=True)
    if fresh_only:
        return {"store": "bulk", "runs": runs,
                "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "counts_unchanged_on_rerun": None}
    with Neo4jStore(uri, batch_size=batch_size) as store:
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        again = ingest_source("ml-1m", store, data_dir=data_dir, batch_size=batch_size, progress=False)
        wall = time.perf_counter() - wall_before
    runs.append({"run": "rerun (transactional)", "seconds": round(wall, 2), "nodes": again.nodes,
                 "relationships": again.relationships, "total_relationships": _total(again.relationships),
                 "rows_read": again.rows_read, "rejected": again.rejected,
                 "relationships_per_s": round(_total(again.relationships) / wall),
                 "python_cpu_s": round(time.process_time() - cpu_before, 1),
                 "load_average_after": [round(x, 2) for x in os.getloadavg()]})
    print(f"[bulk] transactional re-run on top: {wall:.1f}s", file=sys.stderr, flush=True)
    return {"store": "bulk", "runs": runs,
            "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "counts_unchanged_on_rerun": runs[0]["nodes"] == runs[1]["nodes"]
            and runs[0]["relationships"] == runs[1]["relationships"]}


# ------------------------------------------------------------------------------ driver
def run_store(store_name: str, args: argparse.Namespace, uri: str | None, jvm_pid: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", store_name, "--data-dir", args.data_dir,
               "--batch-size", str(args.batch_size)]
    if uri:
        command += ["--uri", uri]
    if jvm_pid:
        command += ["--jvm-pid", str(jvm_pid)]
    if args.fresh_only:
        command.append("--fresh-only")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"benchmark of {store_name} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(report: dict) -> str:
    lines = ["# Ingestion benchmark: ml-1m", "",
             f"Measured {report['date']} on {report['machine']['cpus']} CPU cores "
             f"({report['machine']['platform']}), Python {report['machine']['python']}, "
             f"neo4j driver {report['machine']['neo4j_driver']} (Rust extension: "
             f"{'yes' if report['machine']['neo4j_rust_ext'] else 'no'}), Neo4j Community "
             f"{report['machine']['neo4j_server']} embedded, JVM heap 1 GiB, page cache {report['pagecache']}, "
             f"batch size {report['batch_size']}. Load average before the run: "
             f"{report['machine']['load_average_before']} (the machine is shared).", "",
             "| store | run | relationships | wall (s) | relationships/s | Python CPU (s) | JVM CPU (s) "
             "| Python peak RSS (MiB) | JVM peak RSS (MiB) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in report["results"]:
        for run in result["runs"]:
            lines.append(f"| {result['store']} | {run['run']} | {run['total_relationships']:,} | {run['seconds']} "
                         f"| {run['relationships_per_s']:,} | {run['python_cpu_s']} | {run.get('jvm_cpu_s', '-')} "
                         f"| {result['python_peak_rss_mb']} | {run.get('jvm_peak_rss_mb', '-')} |")
    bulk = [r for r in report["results"] if r["store"] == "bulk"]
    if bulk:
        fresh = bulk[0]["runs"][0]
        lines += ["", "Bulk load (`kgrec ingest ml-1m --store bolt://... --bulk`) by step, seconds: "
                  + ", ".join(f"{k} {v}" for k, v in fresh["steps_s"].items())
                  + f". The importer alone: {fresh['importer_relationships_per_s']:,} relationships/s; end to end "
                  f"(reading and validating included): {fresh['relationships_per_s']:,}/s. Its JVM CPU and peak "
                  "RSS in the table are the importer's. The second run is a transactional ingest on top of the "
                  "bulk-loaded graph."]
        if report.get("bulk_counts_equal_transactional") is not None:
            lines += ["", "Bulk counts equal to the transactional store's: "
                      + ("yes" if report["bulk_counts_equal_transactional"] else "NO")]
    lines += ["", "Counts unchanged on the second run: "
              + ", ".join(f"{r['store']}: {'yes' if r['counts_unchanged_on_rerun'] else 'NO'}" for r in report["results"]),
              "", "Relationships by type (fresh run): " + json.dumps(report["results"][0]["runs"][0]["relationships"]),
              "", f"Target for Neo4j: {report['target_relationships_per_s']:,} relationships/s. "
              + report["verdict"], ""]
    if report.get("bulk_verdict"):
        lines += [f"Target for the bulk load: {report['bulk_target_relationships_per_s']:,} relationships/s. "
                  + report["bulk_verdict"], ""]
    if report.get("notes"):
        lines += ["Notes:", ""] + [f"- {note}" for note in report["notes"]] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("KGREC_DATA_DIR") or str(ROOT.parent / "shared" / "data"),
                        help="folder holding ml-1m/ (default: $KGREC_DATA_DIR or ../shared/data)")
    parser.add_argument("--stores", default="memory,neo4j",
                        help="comma-separated: memory, neo4j, neo4j-serial (one writer), bulk (default: memory,neo4j)")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per write (default: %(default)s)")
    parser.add_argument("--pagecache", default="512m", help="Neo4j page cache (default: %(default)s)")
    parser.add_argument("--note", action="append", default=[], help="a note to add to the report")
    parser.add_argument("--port", type=int, default=BENCH_PORT, help="Bolt port of the benchmark's own Neo4j "
                        "(default: %(default)s)")
    parser.add_argument("--state", default=str(BENCH_STATE), help="KGREC_NEO4J_STATE of the benchmark's Neo4j; "
                        "its home/ is deleted before and after each store (default: %(default)s)")
    parser.add_argument("--fresh-only", action="store_true", help="one run per store, the fresh load (no re-run)")
    parser.add_argument("--no-save", action="store_true", help="print the report, do not write benchmarks/results/")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--jvm-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data_dir, args.batch_size, args.uri, args.jvm_pid, args.fresh_only)))
        return 0
    if not (Path(args.data_dir) / "ml-1m" / "ratings.dat").exists():
        parser.error(f"no ml-1m/ratings.dat under {args.data_dir}")

    import neo4j

    try:  # the Rust packstream codec (package neo4j-rust-ext): ~5x faster parameter encoding
        from neo4j._codec.packstream import RUST_AVAILABLE as rust_ext
    except ImportError:
        rust_ext = False
    report = {"dataset": "ml-1m", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "batch_size": args.batch_size, "pagecache": args.pagecache, "target_relationships_per_s": 50_000,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "neo4j_driver": neo4j.__version__, "neo4j_rust_ext": rust_ext, "neo4j_server": "5.26.30",
                          "load_average_before": [round(x, 2) for x in os.getloadavg()]},
              "results": [], "notes": list(args.note)}
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for store_name in stores:
        if store_name == "memory":
            report["results"].append(run_store("memory", args, None, None))
        elif store_name in ("neo4j", "neo4j-serial", "bulk"):
            state = Path(args.state).absolute()
            os.environ["KGREC_NEO4J_STATE"] = str(state)  # a server of its own, not the dev database
            os.environ.setdefault("KGREC_NEO4J_PASSWORD", "kgrec-bench-password")
            from kg_recsys import neo4j_server

            shutil.rmtree(state / "home", ignore_errors=True)  # a fresh database for each
            status = neo4j_server.start(port=args.port, http_port=0, pagecache=args.pagecache)
            try:
                report["results"].append(run_store(store_name, args, status.bolt_uri,
                                                   None if store_name == "bulk" else status.pid))
            finally:
                neo4j_server.stop()
                shutil.rmtree(state / "home", ignore_errors=True)
        else:
            parser.error(f"unknown store {store_name!r}")
    neo = [r for r in report["results"] if r["store"] == "neo4j"]
    if neo:
        rate = neo[0]["runs"][0]["relationships_per_s"]
        report["verdict"] = (f"Reached {rate:,}/s on the fresh load: "
                             + ("target met." if rate >= 50_000 else "target NOT met."))
    else:
        report["verdict"] = "Neo4j not measured in this run."
    bulk = [r for r in report["results"] if r["store"] == "bulk"]
    if bulk:
        fresh = bulk[0]["runs"][0]
        report["bulk_target_relationships_per_s"] = 200_000
        report["bulk_verdict"] = (f"The importer alone reached {fresh['importer_relationships_per_s']:,}/s ("
                                  + ("met" if fresh["importer_relationships_per_s"] >= 200_000 else "NOT met")
                                  + f"); end to end {fresh['relationships_per_s']:,}/s ("
                                  + ("met" if fresh["relationships_per_s"] >= 200_000 else "NOT met") + ").")
        if neo:
            report["bulk_counts_equal_transactional"] = (
                fresh["nodes"] == neo[0]["runs"][0]["nodes"]
                and fresh["relationships"] == neo[0]["runs"][0]["relationships"])
    if args.no_save:
        print(json.dumps(report, indent=2))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest_ml1m.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = RESULTS / "ingest_ml1m.md"
    # Sections written by hand after the generated part ("## Profile"...) are kept.
    previous = page.read_text(encoding="utf-8") if page.exists() else ""
    kept = previous[previous.index("\n## "):] if "\n## " in previous else ""
    page.write_text(markdown(report) + kept, encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
