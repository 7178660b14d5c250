"""Run the broker's benchmarks, print their figures and save them as JSON.

    .venv/bin/python -m bench [--only NAME[,NAME]] [--quick]

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

from bench.report import Row, table
from bench.scenarios import FULL, QUICK, SCENARIOS, Bench
from bench.server import BROKER_COMMAND

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
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


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    names = _selected(args.only)
    sizes = QUICK if args.quick else FULL
    if args.work_dir:
        args.work_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="territoires-bench-", dir=args.work_dir))
    bench = Bench(sizes, args.workers, work_dir, args.broker_cmd, log=_say)
    rows: list[Row] = []
    failed: list[str] = []
    started = time.monotonic()
    _say(f"bench: {', '.join(names)}; {args.workers} workers on {os.cpu_count()} cores; work dir {work_dir}")
    try:
        needs = set().union(*(SCENARIOS[name].bare_needs for name in names))
        if needs:
            _say(f"[{time.monotonic() - started:5.0f} s] bare round trips {sorted(needs)}")
            bench.measure_bare(needs)
        for name in names:
            _say(f"[{time.monotonic() - started:5.0f} s] {name}")
            try:
                rows += SCENARIOS[name].run(bench)
            except Exception as exc:  # One broken benchmark must not hide the others' figures.
                failed.append(name)
                bench.notes.append(f"{name} could not run: {exc}")
                traceback.print_exc()
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    elapsed = time.monotonic() - started

    print(table(rows))
    for note in bench.notes:
        print(f"\nnote: {note}")
    print(f"\n{len(rows)} figures in {elapsed:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_bytes(orjson.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "workers": args.workers,
        "quick": args.quick,
        "sizes": asdict(sizes),
        "seconds": round(elapsed, 1),
        "rows": [row.to_json() for row in rows],
        "failed": failed,
        "notes": bench.notes,
        "runs": bench.runs,
    }, option=orjson.OPT_INDENT_2))
    _say(f"results written to {args.results}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
