"""`python -m benchmarks [NAME...]`: run the benchmarks, print the table, write the report.

With no names every benchmark runs and docs/PERFORMANCE.md is rewritten. With names
(`B1 B4`, `faults`, `budget`; case-insensitive) only those run and the table is printed;
the document is left alone, so that all of it always comes from one complete run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.procs import ROOT
from benchmarks.report import Check, Outcome, document, load_average, machine, table
from benchmarks.suite import BENCHMARKS, Context

REPORT = ROOT / "docs" / "PERFORMANCE.md"
COMMAND = ".venv/bin/python -m benchmarks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"a subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--no-write", action="store_true", help="do not rewrite docs/PERFORMANCE.md"
    )
    args = parser.parse_args(argv)
    known = {name.lower(): name for name in BENCHMARKS}
    unknown = [n for n in args.names if n.lower() not in known]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    chosen = [known[n.lower()] for n in args.names] or list(BENCHMARKS)
    write = not args.names and not args.no_write

    load_at_start = load_average()
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="agentflow-bench-") as tmp:
        context = Context(Path(tmp))
        for name in chosen:
            print(f"{name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                outcome = BENCHMARKS[name](context)
            except Exception as exc:  # one broken benchmark must not lose the others' numbers
                outcome = Outcome(
                    name,
                    "did not finish",
                    "The benchmark raised before it could measure.",
                    (Check("benchmark runs to the end", f"{type(exc).__name__}: {exc}", False),),
                    (),
                    (),
                    time.perf_counter() - began,
                )
            outcomes.append(outcome)
            for check in outcome.checks:
                print(f"  {check.status:4}  {check.target}: {check.measured}", file=sys.stderr)
            for line in outcome.details:
                print(f"        {line}", file=sys.stderr)
            print(f"  ({outcome.seconds:.0f} s)", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    print(table(outcomes))
    if write:
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        info = machine()
        info["load"] = f"{load_at_start:.2f} / {load_average():.2f}"
        REPORT.write_text(
            document(outcomes, date=date, command=COMMAND, total_s=total, info=info),
            encoding="utf-8",
        )
        print(f"\nwrote {REPORT.relative_to(ROOT)} ({total:.0f} s)", file=sys.stderr)
    failed = sum(1 for o in outcomes for c in o.checks if c.ok is False)
    print(f"{failed} target(s) missed" if failed else "every target met", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
