"""Benchmark results are kept per benchmark: measuring one again replaces only its section."""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks.__main__ as bench
from benchmarks.report import Check, Outcome, load_results


def outcome(name: str, value: str) -> Outcome:
    return Outcome(name, f"{name} title", "method", (Check("target", value, True),), (), (), 1.0)


@pytest.fixture
def suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"one": "1", "two": "2"}
    fake = {name: (lambda ctx, n=name: outcome(n.upper(), values[n])) for name in values}
    monkeypatch.setattr(bench, "BENCHMARKS", fake)
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(bench, "REPORT", tmp_path / "PERFORMANCE.md")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    return values


def test_update_replaces_only_the_named_benchmark(suite: dict[str, str], tmp_path: Path) -> None:
    assert bench.main([]) == 0
    first = load_results(tmp_path / "results.json")
    assert [m.outcome.checks[0].measured for m in first.values()] == ["1", "2"]

    suite["one"], suite["two"] = "10", "20"
    assert bench.main(["two"]) == 0  # names alone: printed, nothing kept
    assert load_results(tmp_path / "results.json") == first

    assert bench.main(["two", "--update"]) == 0
    again = load_results(tmp_path / "results.json")
    assert again["one"] == first["one"]
    assert again["two"].outcome.checks[0].measured == "20"
    text = (tmp_path / "PERFORMANCE.md").read_text(encoding="utf-8")
    # Both sections are in the document, each saying when it was measured.
    assert text.index("## ONE") < text.index("## TWO")
    assert text.count("Measured 20") == 2
    assert "| TWO | target | 20 | PASS |" in text and "| ONE | target | 1 | PASS |" in text
