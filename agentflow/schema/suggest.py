"""'Did you mean' suggestions for misspelt keys and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word`, when one is close enough to be a likely typo; else None.

    A choice that differs only in case wins outright.

        >>> did_you_mean("promt", ["prompt", "model", "system"])
        'prompt'
        >>> did_you_mean("colour", ["prompt", "model"]) is None
        True
    """
    options = [c for c in dict.fromkeys(choices) if c != word]
    if not options or not word:
        return None
    folded = word.casefold()
    for choice in options:
        if choice.casefold() == folded:
            return choice
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    by_case = {c.casefold(): c for c in options}
    matches = difflib.get_close_matches(folded, list(by_case), n=1, cutoff=0.6)
    return by_case[matches[0]] if matches else None
