"""`validate` checks the prices of fallback models like those of the agent's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import in_repo, invoke


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    in_repo(monkeypatch)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "priced.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_fallback_without_a_known_price_cannot_run_under_a_budget(tmp_path: Path) -> None:
    text = """\
version: 1
name: priced
budget: {max_usd: 1}
defaults:
  model: openai/gpt-4o-mini
  fallbacks: [my-local/model]
agents:
  a: {prompt: one}
"""
    path = _write(tmp_path, text)
    result = invoke(["validate", path])
    assert result.exit_code == 2
    assert f"{path}:6:15: error: model 'my-local/model' has no known price" in result.stderr
