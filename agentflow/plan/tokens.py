"""Offline token counting with the tokenizer files that ship inside the litellm package.

Nothing is ever downloaded: the tiktoken BPE files are read from litellm's
`litellm_core_utils/tokenizers/` folder (named by the sha1 of their download address, the
way tiktoken caches them) and checked against tiktoken's published sha256, without touching
`TIKTOKEN_CACHE_DIR` and without importing litellm.

Which tokenizer counts a model (the provider prefix is ignored):

- `gpt-4o*`, `gpt-4.1*`, `gpt-4.5*`, `gpt-5*`, `o1*`, `o3*`, `o4*`, `chatgpt-4o*`,
  `gpt-oss*`: tiktoken `o200k_base`, exact.
- other `gpt-*`, `text-embedding-*`, `davinci*`/`babbage*`: tiktoken `cl100k_base`, exact.
- `claude*`: the Anthropic tokenizer JSON litellm ships (HuggingFace `tokenizers`); it is
  Anthropic's published tokenizer, close to but not exactly what current Claude models use.
- anything else: `cl100k_base` x 1.1, rounded up (`FALLBACK_FACTOR`) - other tokenizers
  usually need a few more tokens than cl100k for English text.
- when no tokenizer file or library is available at all: characters / 4, rounded up.

Encoders are loaded once per process (cl100k ~0.1 s, o200k ~0.2 s, Anthropic ~0.2 s) and
are big (o200k_base ~70 MB resident). A run that needs no exact count uses
`bound_messages()` instead, which loads nothing and is never below `count_messages()`:

- every tiktoken token and every token of the Anthropic tokenizer (NFKC, then byte-level
  BPE) covers at least one byte, so a text has at most as many tokens as UTF-8 bytes
  (of the text as given and of its NFKC form, whichever is longer);
- the `cl100k_base*1.1` fallback is then at most bytes x 1.1, rounded up, and chars/4 is
  below bytes.

    >>> count_tokens("openai/gpt-4o-mini", "Hello world")
    2
"""

from __future__ import annotations

import binascii
import hashlib
import importlib.util
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Final

FALLBACK_FACTOR: Final = 1.1
CHARS_PER_TOKEN: Final = 4
# OpenAI's cookbook: every message costs 3 tokens of framing on top of its content (and
# 1 more when it has a name), and every reply is primed with 3 tokens.
TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_REPLY: Final = 3

Encoder = Callable[[str], int]

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"


# (file name in litellm's tokenizers folder, sha256 of its contents, regex, special tokens)
_TIKTOKEN: Final[dict[str, tuple[str, str, str, dict[str, int]]]] = {
    "cl100k_base": (
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "fb374d419588a4632f3f557e76b4b70aebbca790",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}
_ANTHROPIC_FILE: Final = "anthropic_tokenizer.json"

_O200K_MODEL = re.compile(r"^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4)")
_CL100K_MODEL = re.compile(r"^(?:gpt-|text-embedding-|davinci|babbage)")
# Models counted by a tiktoken encoding when it is available (else by chars/4, lower still).
_OPENAI_TOKENIZED = re.compile(f"{_O200K_MODEL.pattern}|{_CL100K_MODEL.pattern}")


def _tokenizers_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return path if path.is_dir() else None


@cache
def _tiktoken(name: str) -> Encoder | None:
    folder = _tokenizers_dir()
    if folder is None or importlib.util.find_spec("tiktoken") is None:
        return None
    file_name, sha256, pattern, special = _TIKTOKEN[name]
    path = folder / file_name
    if not path.is_file():
        return None
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    import tiktoken

    ranks = {
        binascii.a2b_base64(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    encoding = tiktoken.Encoding(
        name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special
    )
    # Prompts are user text: special-token strings in it are counted as plain text.
    return lambda text: len(encoding.encode_ordinary(text))


@cache
def _anthropic() -> Encoder | None:
    folder = _tokenizers_dir()
    if folder is None or importlib.util.find_spec("tokenizers") is None:
        return None
    path = folder / _ANTHROPIC_FILE
    if not path.is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _chars(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@cache
def tokenizer_for(model: str) -> tuple[str, Encoder]:
    """The name of the tokenizer used for `model` and a function counting a text's tokens.

    Names: `"o200k_base"`, `"cl100k_base"`, `"anthropic"`, `"cl100k_base*1.1"`, `"chars/4"`.
    """
    bare = model.rsplit("/", 1)[-1].lower()
    if _O200K_MODEL.match(bare) and (enc := _tiktoken("o200k_base")):
        return "o200k_base", enc
    if _CL100K_MODEL.match(bare) and (enc := _tiktoken("cl100k_base")):
        return "cl100k_base", enc
    if bare.startswith("claude") and (enc := _anthropic()):
        return "anthropic", enc
    cl100k = _tiktoken("cl100k_base")
    if cl100k is not None:
        return f"cl100k_base*{FALLBACK_FACTOR}", lambda text: math.ceil(
            cl100k(text) * FALLBACK_FACTOR
        )
    return f"chars/{CHARS_PER_TOKEN}", _chars


def count_tokens(model: str, text: str) -> int:
    """The number of tokens `text` takes for `model` (see the module docstring for how)."""
    if not text:
        return 0
    return tokenizer_for(model)[1](text)


def count_messages(model: str, messages: Sequence[tuple[str, str]]) -> int:
    """Prompt tokens of a chat request: each (role, content) message plus OpenAI's framing."""
    name, encode = tokenizer_for(model)
    total = TOKENS_PER_REPLY
    for role, content in messages:
        role_tokens = _roles.get((name, role))
        if role_tokens is None:
            role_tokens = _role_tokens(name, encode, role)
        total += TOKENS_PER_MESSAGE + role_tokens + (encode(content) if content else 0)
    return total


# Tokens of a message role per tokenizer name (each name is one way of counting): the
# same few roles are counted for every prompt of a plan.
_roles: dict[tuple[str, str], int] = {}


def _role_tokens(tokenizer: str, encode: Encoder, role: str) -> int:
    count = encode(role)
    if len(_roles) < 64:  # roles are a handful of words; keep no more than that
        _roles[(tokenizer, role)] = count
    return count


def bound_tokens(model: str, text: str) -> int:
    """A number of tokens `text` never exceeds for `model`, found without a tokenizer."""
    if not text:
        return 0
    if text.isascii():  # ASCII is its own NFKC form, one byte per character
        size = len(text)
    else:
        size = max(
            len(text.encode("utf-8")),
            len(unicodedata.normalize("NFKC", text).encode("utf-8")),
        )
    if _OPENAI_TOKENIZED.match(model.rsplit("/", 1)[-1].lower()):
        return size
    return math.ceil(size * FALLBACK_FACTOR)  # other models may be counted by the fallback


def bound_messages(model: str, messages: Sequence[tuple[str, str]]) -> int:
    """An upper bound on `count_messages(model, messages)` that loads no tokenizer."""
    total = TOKENS_PER_REPLY
    for role, content in messages:
        total += TOKENS_PER_MESSAGE + bound_tokens(model, role) + bound_tokens(model, content)
    return total
