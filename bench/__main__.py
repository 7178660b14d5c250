"""Run the broker's benchmarks on each backend, print their figures side by side and save them as JSON.

    .venv/bin/python -m bench [--backend sqlite|postgres|both] [--only NAME[,NAME]] [--quick]

Figures are printed, never asserted: a missed target is a finding, not a failure. The exit
status is non-zero only when a benchmark could not be carried out at all.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import orjson

from bench.backends import Backend, BackendError, make_backend, postgres_installed
from bench.catalog import SCENARIOS
from bench.report import Row, table
from bench.scenarios import FULL, QUICK, Bench, Run
from bench.server import BROKER_COMMAND

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"),
                        help="the store(s) to benchmark (default: both when PostgreSQL and PostGIS are installed)")
    parser.add_argument("--only", help=f"comma-separated benchmarks among: {', '.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes and short loads: a smoke run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server workers, for the broker and the bare app alike (default: CPU count)")
    parser.add_argument("--work-dir", type=Path, help="where databases and logs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and server logs afterwards")
    parser.add_argument("--broker-cmd", default=BROKER_COMMAND,
                        help="command starting the broker, with {host} {port} {data_dir} {workers}")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON results")
    return parser.parse_args(argv)


def _selected(only: str | None) -> list[str]:
    if not only:
        return list(SCENARIOS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)}; choose among {', '.join(SCENARIOS)}")
    # Keep the run order, whatever the order asked.
    return [name for name in SCENARIOS if name in names]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _backend_names(asked: str | None, notes: list[str]) -> list[str]:
    if asked is None:
        if postgres_installed():
            return ["sqlite", "postgres"]
        notes.append("PostgreSQL server binaries or PostGIS are not installed (Debian: postgresql-15, "
                      "postgresql-15-postgis-3): SQLite only")
        return ["sqlite"]
    return ["sqlite", "postgres"] if asked == "both" else [asked]


def _run_backend(run: Run, backend: Backend, names: list[str], clock: float) -> tuple[list[Row], list[str]]:
    """Every selected benchmark on one backend: its rows and the names of those that failed."""
    rows: list[Row] = []
    failed: list[str] = []
    try:
        backend.open()
    except BackendError as exc:
        run.notes.append(f"{backend.name}: {exc}")
        return rows, [f"{backend.name} {name}" for name in names]
    bench = Bench(run, backend)
    try:
        run.check_idle(f"the {backend.name} benchmarks")
        for name in names:
            _say(f"[{time.monotonic() - clock:5.0f} s] {backend.name} {name}")
            try:
                rows += SCENARIOS[name].run(bench)
            except Exception as exc:  # One broken benchmark must not hide the others' figures.
                failed.append(f"{backend.name} {name}")
                bench.note(f"{name} could not run: {exc}")
                traceback.print_exc()
    finally:
        bench.close()
        backend.close()
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    names = _selected(args.only)
    sizes = QUICK if args.quick else FULL
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="territoires-bench-", dir=args.work_dir))
    run = Run(sizes, args.workers, work_dir, args.broker_cmd, log=_say)
    backends = [make_backend(name, work_dir) for name in _backend_names(args.backend, run.notes)]
    results: dict[str, list[Row]] = {}
    configurations: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    started = time.monotonic()
    _say(f"bench: {', '.join(names)} on {', '.join(b.name for b in backends)}; "
         f"{args.workers} workers on {os.cpu_count()} cores; work dir {work_dir}")
    try:
        needs = set().union(*(SCENARIOS[name].bare_needs for name in names))
        if needs:
            run.check_idle("the bare round trips")
            _say(f"[{time.monotonic() - started:5.0f} s] bare round trips {sorted(needs)}")
            run.measure_bare(needs)
        for backend in backends:
            results[backend.name], backend_failed = _run_backend(run, backend, names, started)
            configurations[backend.name] = backend.configuration
            failed += backend_failed
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    elapsed = time.monotonic() - started

    print(table(results))
    print("\nupsert limits: " + "; ".join(f"{b.name}: {b.raw_limit}" for b in backends))
    for note in run.notes:
        print(f"\nnote: {note}")
    count = sum(len(rows) for rows in results.values())
    print(f"\n{count} figures in {elapsed:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_bytes(orjson.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workers": args.workers,
        "quick": args.quick,
        "sizes": asdict(sizes),
        "seconds": round(elapsed, 1),
        "backends": configurations,
        "rows": [dict(row.to_json(), backend=name) for name, rows in results.items() for row in rows],
        "failed": failed,
        "notes": run.notes,
        "runs": run.runs,
    }, option=orjson.OPT_INDENT_2))
    _say(f"results written to {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
