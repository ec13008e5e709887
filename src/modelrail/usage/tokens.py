"""Offline token counting for OpenAI models, with tiktoken and no network.

tiktoken downloads its encodings on first use, which a machine without internet cannot do. The
``bpe-openai`` package ships the same two encoding files (``cl100k_base``, ``o200k_base``); they
are read from its data folder, checked against the SHA-256 hashes tiktoken itself pins for them,
and handed to tiktoken, so the counts are tiktoken's own.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tiktoken

O200K = "o200k_base"
CL100K = "cl100k_base"

# The hashes tiktoken checks for these files (tiktoken_ext/openai_public.py).
_EXPECTED_SHA256 = {
    CL100K: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    O200K: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Split patterns and special tokens, as tiktoken defines them for each encoding.
_PATTERNS = {
    CL100K: (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    O200K: "|".join(
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
}
_SPECIAL = {
    CL100K: {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    O200K: {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}

# Model-name prefixes, longest match wins. Checked after stripping a "provider/" prefix.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K),
    ("gpt-4.1", O200K),
    ("gpt-4.5", O200K),
    ("gpt-5", O200K),
    ("chatgpt-4o", O200K),
    ("gpt-oss", O200K),
    ("o1", O200K),
    ("o3", O200K),
    ("o4", O200K),
    ("gpt-4", CL100K),
    ("gpt-35", CL100K),
    ("gpt-3.5", CL100K),
    ("text-embedding-", CL100K),
    ("davinci-002", CL100K),
    ("babbage-002", CL100K),
)

# OpenAI's accounting for chat messages: each message is wrapped in about 3 tokens, a ``name``
# costs one more, and every reply is primed with 3 (``<|start|>assistant<|message|>``).
_PER_MESSAGE = 3
_PER_NAME = 1
_REPLY_PRIMING = 3
# Non-text content parts (images, audio, files) are billed by their size, which the message
# does not show; each is counted as OpenAI's smallest image charge, so a count never ignores them.
_NON_TEXT_PART = 85
# Entries in each of the counter's lookup maps before they are emptied (model ids and role names
# come from clients, so the maps must not grow without bound).
_REMEMBERED = 1024
# Texts whose counts are remembered: every turn of a conversation resends the turns before it,
# and system prompts repeat across requests, so most message texts have been counted before. A
# lookup costs a hash of the text; a count costs a regex split and a BPE pass (about 1 µs for a
# sentence, 75 µs for a page). Bounded in entries and in the characters the entries hold.
_TEXTS_REMEMBERED = 4096
_TEXT_CHARS_REMEMBERED = 2_000_000
# BPE on one pre-split piece costs about the square of its length (a 1 MB word without spaces took
# over a second), so texts longer than this are encoded in slices of at most this many characters,
# cut after a whitespace where one is near: the cost stays linear in the text's length, and the
# count differs from the exact one by at most a token or two per cut, only for texts this long.
_SLICE = 1024


class EncodingDataError(RuntimeError):
    """The encoding file is missing, or is not the file tiktoken expects."""


def encoding_for_model(model: str) -> str:
    """The encoding name for an OpenAI model id, such as ``gpt-4o-mini`` or ``openai/gpt-4``.

    gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3, o4 and gpt-oss use ``o200k_base``; gpt-4, gpt-3.5 and
    text-embedding-* use ``cl100k_base``. Any other model, including non-OpenAI ones, falls back to
    ``o200k_base``: an estimate, not that model's own count.
    """
    name = model.rsplit("/", 1)[-1].lower()
    best = ""
    encoding = O200K
    for prefix, enc in _PREFIXES:
        if name.startswith(prefix) and len(prefix) > len(best):
            best, encoding = prefix, enc
    return encoding


class TokenCounter:
    """Counts tokens as OpenAI's models do, offline. Build one at start-up and share it.

    Encodings are loaded on first use (about half a second each) and kept by the instance.
    Unknown models are counted with ``o200k_base`` (see :func:`encoding_for_model`).
    Thread-safe: counting may run in worker threads.
    """

    def __init__(self, data_dir: Path | None = None) -> None:
        # Resolved now, so a missing package fails at start-up rather than at the first count.
        self._data_dir = data_dir if data_dir is not None else _bpe_openai_data_dir()
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._lock = threading.Lock()
        # Per request, counting repeats two lookups whose answers never change: a model's encoding
        # (a prefix search) and the tokens in a role name. Both are remembered, in bounded maps.
        self._by_model: dict[str, tiktoken.Encoding] = {}
        self._roles: dict[tuple[str, str], int] = {}
        self._texts: dict[tuple[str, str], int] = {}
        self._text_chars = 0

    def encoding(self, name: str) -> tiktoken.Encoding:
        enc = self._encodings.get(name)
        if enc is not None:
            return enc
        with self._lock:
            enc = self._encodings.get(name)
            if enc is None:
                enc = self._load(name)
                self._encodings[name] = enc
        return enc

    def for_model(self, model: str) -> tiktoken.Encoding:
        enc = self._by_model.get(model)
        if enc is None:
            enc = self.encoding(encoding_for_model(model))
            if len(self._by_model) >= _REMEMBERED:
                self._by_model.clear()
            self._by_model[model] = enc
        return enc

    def count_text(self, model: str, text: str) -> int:
        """Tokens in ``text``. Special-token strings in it count as ordinary text, as OpenAI does."""
        if not text:
            return 0
        return self.tokens(self.for_model(model), text)

    def count_messages(self, model: str, messages: Iterable[Mapping[str, Any]]) -> int:
        """Prompt tokens of a chat request's ``messages``, with OpenAI's per-message overhead.

        Text, names, tool calls (function name and arguments) and tool-call ids are counted
        exactly; each non-text content part (image, audio, file) as 85 tokens, a floor.
        """
        enc = self.for_model(model)
        total = _REPLY_PRIMING
        for message in messages:
            total += _PER_MESSAGE
            for key, value in message.items():
                if key == "name" and isinstance(value, str):
                    total += _PER_NAME + self.tokens(enc, value)
                elif key == "role" and isinstance(value, str):
                    total += self._role_tokens(enc, value)
                elif key == "tool_call_id" and isinstance(value, str):
                    total += self.tokens(enc, value)
                elif key == "content":
                    total += self._content_tokens(enc, value)
                elif key == "tool_calls" and isinstance(value, list):
                    total += self._tool_call_tokens(enc, value)
        return total

    def tokens(self, enc: tiktoken.Encoding, text: str) -> int:
        """Tokens in ``text`` under ``enc``, remembered (see ``_TEXTS_REMEMBERED``)."""
        key = (enc.name, text)
        count = self._texts.get(key)
        if count is None:
            count = _encoded_length(enc, text)
            size = len(text)
            if size <= _TEXT_CHARS_REMEMBERED // 16:
                if len(self._texts) >= _TEXTS_REMEMBERED or self._text_chars + size > _TEXT_CHARS_REMEMBERED:
                    self._texts.clear()
                    self._text_chars = 0
                self._texts[key] = count
                self._text_chars += size
        return count

    def _content_tokens(self, enc: tiktoken.Encoding, content: Any) -> int:
        if isinstance(content, str):
            return self.tokens(enc, content)
        if not isinstance(content, list):
            return 0
        total = 0
        for part in content:
            if not isinstance(part, Mapping):
                continue
            text = part.get("text") if part.get("type") in ("text", "input_text", "output_text") else None
            if isinstance(text, str):
                total += self.tokens(enc, text)
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                total += self.tokens(enc, part["refusal"])
            else:
                total += _NON_TEXT_PART
        return total

    def _tool_call_tokens(self, enc: tiktoken.Encoding, calls: list[Any]) -> int:
        total = 0
        for call in calls:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if not isinstance(fn, Mapping):
                continue
            for field in ("name", "arguments"):
                value = fn.get(field)
                if isinstance(value, str):
                    total += self.tokens(enc, value)
        return total

    def _role_tokens(self, enc: tiktoken.Encoding, role: str) -> int:
        key = (enc.name, role)
        count = self._roles.get(key)
        if count is None:
            count = len(enc.encode_ordinary(role))
            if len(self._roles) >= _REMEMBERED:
                self._roles.clear()
            self._roles[key] = count
        return count

    def _load(self, name: str) -> tiktoken.Encoding:
        if name not in _EXPECTED_SHA256:
            raise EncodingDataError(f"no offline data for encoding '{name}'")
        path = self._data_dir / f"{name}.tiktoken.gz"
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as exc:
            raise EncodingDataError(f"cannot read {path}: {exc}") from None
        if hashlib.sha256(raw).hexdigest() != _EXPECTED_SHA256[name]:
            raise EncodingDataError(f"{path} is not the {name} file that tiktoken expects (hash differs)")
        ranks: dict[bytes, int] = {}
        for line in raw.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        enc = tiktoken.Encoding(name, pat_str=_PATTERNS[name], mergeable_ranks=ranks, special_tokens=_SPECIAL[name])
        # The Rust tokenizer keeps its own copy of the ranks; the Python dict is only kept for pickling
        # an Encoding, which modelrail never does. Dropping it saves about 30 MB per process (o200k_base).
        enc._mergeable_ranks = {}
        return enc


def _encoded_length(enc: tiktoken.Encoding, text: str) -> int:
    if len(text) <= _SLICE:
        return len(enc.encode_ordinary(text))
    total = 0
    start = 0
    end = len(text)
    while start < end:
        stop = min(start + _SLICE, end)
        if stop < end:
            # Cut before the last whitespace in the slice's second half, where a piece starts anyway.
            space = max(text.rfind(" ", start + _SLICE // 2, stop), text.rfind("\n", start + _SLICE // 2, stop))
            if space > start:
                stop = space
        total += len(enc.encode_ordinary(text[start:stop]))
        start = stop
    return total


def _bpe_openai_data_dir() -> Path:
    # find_spec of a top-level name locates the package without importing it.
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise EncodingDataError("the 'bpe-openai' package is not installed (pip install 'modelrail[local]')")
    return Path(next(iter(spec.submodule_search_locations))) / "data"
