"""Sinks: what consumes run events (the JSONL run log, live progress, plain lines, the cost summary).

The small formatting helpers below are shared by every human-facing sink so that a cost or a
duration reads the same in the progress display, the plain lines and the cost table.
"""

from __future__ import annotations

import math
import re


def format_usd(value: float | None) -> str:
    """$0.50, $12.34, $0.0042, $0.00015, $0.0000012; "unknown" when the price is not known.

    Shared by the plan and every run sink, so an amount reads the same everywhere. Below a
    cent at least two significant digits are kept, so a tiny amount never shows as $0.00.
    """
    if value is None:
        return "unknown"
    if value == 0 or abs(value) >= 1 or round(value, 2) == value:
        return f"${value:,.2f}"
    if abs(value) >= 0.01:
        return f"${value:.4f}"
    # Six decimals, or more for an amount below a millionth: two significant digits at least.
    decimals = max(6, 1 - math.floor(math.log10(abs(value))))
    digits = f"{value:.{decimals}f}".rstrip("0")
    return "$" + digits.ljust(len(digits.split(".")[0]) + 5, "0")


def format_duration(seconds: float | None) -> str:
    """0.42s, 12.3s, 4m05s, 1h02m."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_count(value: int | None) -> str:
    """12,345 (thousands separated); "-" when absent."""
    return "-" if value is None else f"{value:,}"


# LiteLLM wraps a provider's message in its own names, sometimes twice:
# "litellm.InternalServerError: InternalServerError: OpenAIException - Connection error."
_LITELLM_NOISE = re.compile(
    r"^\s*(?:litellm\.\w+:\s*(?:\w+(?:Error|Exception):\s*)*(?:\w+Exception\s*-\s*)?"
    r"|\w+Exception\s*-\s*)"
)


def provider_message(text: object) -> str:
    """A provider error as the provider said it, without LiteLLM's class-name prefixes.

    For display only: the run log keeps the full text.
    """
    raw = str(text)
    trimmed = _LITELLM_NOISE.sub("", raw, count=1)
    return trimmed or raw


def budget_words(scope: object) -> str:
    """`run budget`, `workflow budget (hr#0)`, `agent budget (hr#0.screen)` for a ledger scope."""
    name = str(scope or "run")
    kind, sep, owner = name.partition(":")
    return f"{kind} budget ({owner})" if sep else f"{name} budget"
