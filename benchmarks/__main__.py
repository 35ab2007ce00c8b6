"""`python -m benchmarks [NAME...] [--update]`: run benchmarks, print the table, keep results.

With no names every benchmark runs, benchmarks/results.json is replaced and
docs/PERFORMANCE.md rewritten from it. With names (`B1 B4`, `faults`, `budget`;
case-insensitive) only those run and the table is printed; with `--update` as well, their
results replace just their own in benchmarks/results.json and the document is rewritten,
every other section keeping the date, commit and load it was measured at. `--render`
measures nothing and rewrites the document from benchmarks/results.json (after merging
results measured elsewhere).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.procs import ROOT
from benchmarks.report import (
    Check,
    Measured,
    Outcome,
    document,
    load_average,
    load_results,
    machine,
    save_results,
    table,
)
from benchmarks.suite import BENCHMARKS, Context

REPORT = ROOT / "docs" / "PERFORMANCE.md"
RESULTS = ROOT / "benchmarks" / "results.json"
COMMAND = ".venv/bin/python -m benchmarks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"a subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--no-write", action="store_true", help="do not rewrite docs/PERFORMANCE.md"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="with names: replace those benchmarks' results and rewrite docs/PERFORMANCE.md",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite docs/PERFORMANCE.md from benchmarks/results.json",
    )
    args = parser.parse_args(argv)
    if args.render:
        results = load_results(RESULTS)
        ordered = [results[name] for name in BENCHMARKS if name in results]
        REPORT.write_text(document(ordered, command=COMMAND), encoding="utf-8")
        print(f"wrote {REPORT.relative_to(ROOT)} from {RESULTS.relative_to(ROOT)}", file=sys.stderr)
        return 0
    known = {name.lower(): name for name in BENCHMARKS}
    unknown = [n for n in args.names if n.lower() not in known]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    chosen = [known[n.lower()] for n in args.names] or list(BENCHMARKS)
    write = (not args.names or args.update) and not args.no_write

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
        load = f"{load_at_start:.2f} / {load_average():.2f}"
        results = load_results(RESULTS) if args.names else {}
        info, commit = machine(), _commit()
        for name, outcome in zip(chosen, outcomes, strict=True):
            results[name] = Measured(outcome, date, commit, load, info)
        save_results(RESULTS, results, list(BENCHMARKS))
        ordered = [results[name] for name in BENCHMARKS if name in results]
        REPORT.write_text(document(ordered, command=COMMAND), encoding="utf-8")
        print(f"\nwrote {REPORT.relative_to(ROOT)} ({total:.0f} s)", file=sys.stderr)
    failed = sum(1 for o in outcomes for c in o.checks if c.ok is False)
    print(f"{failed} target(s) missed" if failed else "every target met", file=sys.stderr)
    return 0


def _commit() -> str:
    """The commit measured, with `+` when the working tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
