"""Outcomes of benchmarks, the table printed at the end, and docs/PERFORMANCE.md.

Each benchmark returns an `Outcome`: checks (a target, what was measured, PASS/FAIL or
information only), lines of detail, and the exact command lines it ran. Every outcome is
kept in benchmarks/results.json with when, where and at which commit it was measured; the
document is always written from that file, so a section measured again (`--update`)
replaces only itself and every section says when it was measured.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUS = {True: "PASS", False: "FAIL", None: "info"}


@dataclass(frozen=True, slots=True)
class Check:
    """One measured number against its target; `ok` is None for information only."""

    target: str
    measured: str
    ok: bool | None

    @property
    def status(self) -> str:
        return STATUS[self.ok]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one benchmark found."""

    id: str
    title: str
    method: str
    checks: tuple[Check, ...]
    details: tuple[str, ...]
    commands: tuple[str, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class Measured:
    """An outcome with when, where and at which commit it was measured."""

    outcome: Outcome
    date: str
    commit: str
    load: str
    machine: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": asdict(self.outcome),
            "date": self.date,
            "commit": self.commit,
            "load": self.load,
            "machine": self.machine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measured:
        raw = data["outcome"]
        outcome = Outcome(
            raw["id"],
            raw["title"],
            raw["method"],
            tuple(Check(c["target"], c["measured"], c["ok"]) for c in raw["checks"]),
            tuple(raw["details"]),
            tuple(raw["commands"]),
            float(raw["seconds"]),
        )
        return cls(outcome, data["date"], data["commit"], data["load"], data["machine"])


def load_results(path: Path) -> dict[str, Measured]:
    """The stored outcomes by benchmark name (empty when the file does not exist yet)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Measured.from_json(entry) for name, entry in data["results"].items()}


def save_results(path: Path, results: dict[str, Measured], order: Sequence[str]) -> None:
    """Write the outcomes by benchmark name, in suite order (names no longer run are dropped)."""
    kept = {name: results[name].to_json() for name in order if name in results}
    text = json.dumps({"results": kept}, indent=1, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def seconds(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"


def runs(values: Sequence[float], unit: str = "s") -> str:
    """'7.81, 7.75, 7.90 s' for a list of repeated measurements."""
    return ", ".join(f"{v:.3f}" if unit == "s" else f"{v:.0f}" for v in values) + f" {unit}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine() -> dict[str, str]:
    """Cores, CPU, Python and litellm version, OS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        litellm = importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        litellm = "not installed"
    return {
        "cores": str(cores),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "litellm": litellm,
        "os": f"{platform.system()} {platform.release()}",
    }


def table(outcomes: Sequence[Outcome]) -> str:
    """The summary as a Markdown table: one row per check."""
    rows = ["| # | target | measured | result |", "|---|---|---|---|"]
    for outcome in outcomes:
        for check in outcome.checks:
            measured = check.measured.replace("|", "/")
            rows.append(f"| {outcome.id} | {check.target} | {measured} | {check.status} |")
    return "\n".join(rows)


def _when(measured: Measured) -> str:
    return f"{measured.date} at commit {measured.commit}, load {measured.load}"


def document(results: Sequence[Measured], *, command: str) -> str:
    """The whole of docs/PERFORMANCE.md, from the stored outcomes."""
    outcomes = [m.outcome for m in results]
    failed = [f"{o.id}: {c.target}" for o in outcomes for c in o.checks if c.ok is False]
    dates = sorted({m.date for m in results})
    info = results[-1].machine if results else machine()
    parts = [
        "# Performance",
        "",
        "Generated by `make bench` (`" + command + "`) from benchmarks/results.json;",
        "do not edit by hand, measure again. Targets are those of DESIGN.md section 6 and of",
        "the issues that added each benchmark.",
        "",
        "- Measured: " + (" to ".join(dict.fromkeys((dates[0], dates[-1]))) if dates else "never"),
        f"- Machine: {info.get('cores', '?')} cores ({info.get('cpu', '?')}), "
        f"{info.get('os', '?')}",
        f"- Python {info.get('python', '?')}, litellm {info.get('litellm', '?')}",
        "- Each section says when it was measured, at which commit, and the load average",
        "  (1 min, at start / end; other work on the machine skews timings).",
        "",
        "## Summary",
        "",
        table(outcomes),
        "",
        ("Targets missed: " + "; ".join(failed) + "." if failed else "Every target was met."),
        "",
        "## How it is measured",
        "",
        "- Every benchmark starts its own fake OpenAI-compatible server (`tests/fakeserver.py`,",
        "  wrapped by `benchmarks/_serve.py`, which also serves the requests' arrival times) in a",
        "  separate process on a free loopback port. With two or more cores the server is pinned",
        "  to the last core and everything measured to the others, so it never takes the",
        "  engine's CPU. The workers benchmark's throughput rounds, which need every core for",
        "  the workers, use `benchmarks/_lean.py` instead: an answer per request and no knobs,",
        "  a third of the test server's CPU per call.",
        "- Model calls go over HTTP through LiteLLM (`openai/...` models, `api_base` = the",
        "  server, a dummy key), with LiteLLM's own retries off, exactly as `agentflow run` does.",
        "- In-process measurements (`benchmarks/worker.py`) run in a fresh Python process each,",
        "  so imports, caches and peak memory of one do not leak into the next.",
        "- Timing-sensitive numbers are repeated; each section says how many times and",
        "  whether the median or the best is reported. Nothing is asserted or hard-coded: a",
        "  target is PASS or FAIL from the numbers of the run that measured it.",
        "- In the command lines, `$TMP` is the scratch folder the suite creates and deletes",
        "  (workflow files generated by `benchmarks/workloads.py`, JSONL inputs, run logs) and",
        "  `$PORT` the fake server's port of that benchmark.",
        "- `make bench` measures every benchmark and rewrites every section;",
        "  `.venv/bin/python -m benchmarks B1 B4` measures a subset and only prints its table;",
        "  `.venv/bin/python -m benchmarks B6 --update` measures a subset and replaces just",
        "  those sections (the others keep their date); `--render` measures nothing and",
        "  rewrites this file from benchmarks/results.json.",
        "",
    ]
    for measured in results:
        outcome = measured.outcome
        parts += [f"## {outcome.id} — {outcome.title}", "", outcome.method, ""]
        parts += [f"Measured {_when(measured)}.", ""]
        parts += ["| target | measured | result |", "|---|---|---|"]
        parts += [
            f"| {c.target} | {c.measured.replace('|', '/')} | {c.status} |" for c in outcome.checks
        ]
        parts.append("")
        parts += [f"- {line}" for line in outcome.details]
        parts += ["", "Commands:", "", "```sh", *outcome.commands, "```", ""]
        parts += [f"({outcome.seconds:.0f} s)", ""]
    return "\n".join(parts)
