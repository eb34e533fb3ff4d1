"""`python -m bench [--quick]`: measure, then write the report (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bench import report
from bench.config import DOCS, FULL, QUICK, WORK_DIR
from bench.runner import Results, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the platform on a real Kafka and PostgreSQL; write the report.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small scale, a few minutes: checks the harness (report under .local/bench/quick)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for benchmarks.md and its plot (default: docs/, or .local/bench/quick)",
    )
    parser.add_argument(
        "--report-from",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: render the report again from a run's raw figures"
        " (e.g. docs/benchmarks.json)",
    )
    args = parser.parse_args(argv)
    if args.report_from is not None:
        results = Results.from_dict(json.loads(args.report_from.read_text()))
        written = report.write(results, args.out or DOCS)
        print(f"report {written}")
        return 0
    scale = QUICK if args.quick else FULL
    out = args.out or (WORK_DIR / "quick" if args.quick else DOCS)
    command = "python -m bench" + (" --quick" if args.quick else "")
    asyncio.run(run(scale, command, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
