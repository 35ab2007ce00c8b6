"""Planning never imports litellm (it costs ~2.5 s and ~170 MB)."""

from __future__ import annotations

import subprocess
import sys


def test_plan_modules_do_not_import_litellm() -> None:
    code = (
        "import sys\n"
        "from agentflow.plan import estimate, pricing, tokens, render\n"
        "book = pricing.load_price_book()\n"
        "assert book.lookup('openai/gpt-4o-mini') is not None\n"
        "assert tokens.count_tokens('gpt-4o', 'hello') == 1\n"
        "assert tokens.count_tokens('claude-sonnet-4-5', 'hello') > 0\n"
        "print('litellm' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
