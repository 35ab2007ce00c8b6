"""'Did you mean' suggestions for misspelt keys and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The choice closest to `word`, when one is close enough to be a likely typo; else None.

    A choice that differs only in case wins outright; `cutoff` (0 to 1) is how alike the
    others must be.

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
    matches = difflib.get_close_matches(word, options, n=1, cutoff=cutoff)
    if matches:
        return matches[0]
    by_case = {c.casefold(): c for c in options}
    matches = difflib.get_close_matches(folded, list(by_case), n=1, cutoff=cutoff)
    return by_case[matches[0]] if matches else None


# Keys other tools use for what agentflow calls otherwise: a user coming from Compose,
# Airflow or another agent framework writes these first, and no spelling rule finds them.
KEY_ALIASES = {
    "depends_on": "needs",
    "dependencies": "needs",
    "depends": "needs",
    "after": "needs",
    "requires": "needs",
    "system_prompt": "system",
    "user_prompt": "prompt",
    "if": "when",
    "condition": "when",
    "foreach": "for_each",
    "base_url": "api_base",
    "max_output_tokens": "max_tokens",
    "max_retries": "retry",
}


def suggest_key(word: str, allowed: Iterable[str]) -> str | None:
    """The key `word` was most likely meant to be: another tool's name for one of
    `allowed` (`depends_on` -> `needs`), else the closest spelling (`did_you_mean`).

        >>> suggest_key("depends_on", ["prompt", "needs", "model"])
        'needs'
        >>> suggest_key("promt", ["prompt", "needs"])
        'prompt'
    """
    options = list(allowed)
    alias = KEY_ALIASES.get(word) or KEY_ALIASES.get(word.casefold().replace("-", "_"))
    if alias is not None and alias in options:
        return alias
    return did_you_mean(word, options)
