"""The defaults a run starts from, one place for the commands, the API and the engine.

Only the standard library is imported: `agentflow --help` reads these at start-up.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_LOG_DIR = Path(".agentflow/runs")  # run logs; the journal sits beside it
DEFAULT_MAX_CONCURRENCY = 512  # calls in flight across the whole run
DEFAULT_MAX_WORKFLOWS = 100  # workflow instances running at once
DEFAULT_STATE = DEFAULT_LOG_DIR.parent / "state.db"  # journal, cache, standing budgets
