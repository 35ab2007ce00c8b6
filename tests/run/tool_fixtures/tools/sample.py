"""Tool handlers for tests/run/test_tools.py, imported by file path by the tool runner."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date
from typing import Any

MARKER = "fixtures"


def add(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b, "thread": threading.current_thread().name}


def greet(name: str) -> str:
    return f"Hello, {name}!"


def nothing() -> None:
    return None


def today() -> dict[str, Any]:
    return {"day": date(2025, 3, 14)}


def marker() -> str:
    return MARKER


async def async_echo(text: str) -> list[str]:
    await asyncio.sleep(0)
    return [text, text.upper()]


def boom(reason: str) -> None:
    raise ValueError(reason)


def exits() -> None:
    raise SystemExit(3)


def huge() -> str:
    return "x" * 200_000


def slow_sync(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


async def slow_async(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


NOT_A_FUNCTION = 42
