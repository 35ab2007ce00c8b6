"""The quick scan before `_PURE_ONLY` never sends a file to libyaml the pattern would keep away."""

from __future__ import annotations

import random

from agentflow.loading import yaml_loader


def test_the_quick_scan_agrees_with_the_pattern() -> None:
    rng = random.Random(18)
    pieces = [
        "a: b\n",
        "  - x\n",
        "k: 'v'\n",
        '"q":x',
        "!tag ",
        "&a1 ",
        "*a.b",
        "%YAML 1.2\n",
        "\t",
        "|2#",
        ">-#",
        "\u2028",
        "\ufeff",
        " != ",
        "{{ x > 1 }}",
        "p: |\n  t\n",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        expected = yaml_loader._PURE_ONLY.search(text) is not None
        assert yaml_loader._needs_pure_parser(text) is expected, repr(text)


def test_plain_files_skip_the_pattern_and_odd_ones_still_match() -> None:
    assert not yaml_loader._needs_pure_parser('version: 1\nagents:\n  a: {prompt: "hi"}\n')
    assert yaml_loader._needs_pure_parser("a: !!str 1\n")
    assert yaml_loader._needs_pure_parser("a:\tb\n")
