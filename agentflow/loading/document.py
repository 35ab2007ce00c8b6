"""What the loader hands to validation: plain JSON-like data plus where each node was."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentflow.model.types import SourceMap


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed workflow file.

    `data` holds plain Python values only (dict, list, str, int, float, bool, None), in file
    order; `source` maps every key path to the positions of its key and value.
    """

    path: Path
    data: Any
    source: SourceMap
