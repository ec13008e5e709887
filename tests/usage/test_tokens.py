"""Offline token counts against values OpenAI publishes (its cookbook's message example, which
the API itself reported as 129 prompt tokens for gpt-3.5/gpt-4 and 124 for gpt-4o)."""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from pathlib import Path

import pytest

from modelrail.usage.tokens import CL100K, O200K, EncodingDataError, TokenCounter, encoding_for_model

pytest.importorskip("tiktoken")

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_cookbook_message_counts(counter: TokenCounter, model: str, expected: int) -> None:
    assert counter.count_messages(model, COOKBOOK_MESSAGES) == expected


def test_known_token_ids(counter: TokenCounter) -> None:
    assert counter.encoding(CL100K).encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]
    assert counter.encoding(O200K).encode_ordinary("Hello, world!") == [13225, 11, 2375, 0]
    assert counter.encoding(CL100K).encode_ordinary("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert counter.count_text("gpt-4", "tiktoken is great!") == 6
    assert counter.count_text("gpt-4o", "tiktoken is great!") == 6
    assert counter.count_text("gpt-4o", "") == 0


def test_special_token_text_counts_as_text(counter: TokenCounter) -> None:
    # A client cannot smuggle in a control token: the string is split like any other text.
    assert counter.count_text("gpt-4", "<|endoftext|>") == 7
    assert counter.count_text("gpt-4o", "<|endoftext|>") > 1


def test_encodings_differ_where_they_should(counter: TokenCounter) -> None:
    text = "Grüße aus München! 東京は晴れです。"
    assert counter.count_text("gpt-4", text) != counter.count_text("gpt-4o", text)
    assert counter.count_text("gpt-4", text) == len(counter.encoding(CL100K).encode_ordinary(text))


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-2024-08-06", O200K),
        ("gpt-4o-mini", O200K),
        ("gpt-4.1-nano", O200K),
        ("gpt-5", O200K),
        ("o1-preview", O200K),
        ("o3-mini", O200K),
        ("openai/gpt-4o", O200K),
        ("gpt-4", CL100K),
        ("gpt-4-turbo", CL100K),
        ("gpt-3.5-turbo-0125", CL100K),
        ("gpt-35-turbo", CL100K),
        ("text-embedding-3-small", CL100K),
        ("azure/gpt-4-32k", CL100K),
        ("claude-3-5-sonnet", O200K),
        ("smollm2-135m-instruct", O200K),
    ],
)
def test_model_to_encoding(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding


def test_message_parts_names_and_tool_calls(counter: TokenCounter) -> None:
    enc = counter.encoding(O200K)
    text_only = counter.count_messages("gpt-4o", [{"role": "user", "content": "Describe this."}])
    assert text_only == 3 + 3 + len(enc.encode_ordinary("user")) + len(enc.encode_ordinary("Describe this."))
    with_parts = counter.count_messages(
        "gpt-4o",
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this."},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
    )
    assert with_parts == text_only + 85
    named = counter.count_messages("gpt-4o", [{"role": "user", "name": "bob", "content": "Describe this."}])
    assert named == text_only + 1 + len(enc.encode_ordinary("bob"))
    call = {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"a":1}'}}]}
    assert counter.count_messages("gpt-4o", [call]) == (
        6 + len(enc.encode_ordinary("assistant")) + len(enc.encode_ordinary("f")) + len(enc.encode_ordinary('{"a":1}'))
    )


def test_a_tampered_encoding_file_is_refused(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("bpe_openai")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / "data"
    shutil.copy(source / f"{CL100K}.tiktoken.gz", tmp_path / f"{CL100K}.tiktoken.gz")
    assert TokenCounter(tmp_path).count_text("gpt-4", "Hello, world!") == 4
    raw = gzip.decompress((tmp_path / f"{CL100K}.tiktoken.gz").read_bytes())
    (tmp_path / f"{CL100K}.tiktoken.gz").write_bytes(gzip.compress(raw.replace(b" 0\n", b" 1\n", 1)))
    with pytest.raises(EncodingDataError, match="hash"):
        TokenCounter(tmp_path).count_text("gpt-4", "Hello")
    with pytest.raises(EncodingDataError):
        TokenCounter(tmp_path).count_text("gpt-4o", "Hello")  # no o200k file there


def test_encodings_load_once_per_counter(counter: TokenCounter) -> None:
    assert counter.encoding(O200K) is counter.encoding(O200K)


def test_remembered_lookups_stay_bounded_and_exact(counter: TokenCounter) -> None:
    enc = counter.encoding(O200K)
    for i in range(3000):  # client-chosen roles and model ids must not grow memory without bound
        role = f"role-{i}"
        got = counter.count_messages(f"gpt-4o-{i}", [{"role": role, "content": ""}])
        assert got == 3 + 3 + len(enc.encode_ordinary(role))
    assert len(counter._roles) <= 1024
    assert len(counter._by_model) <= 1024
    # The same model id later maps to another encoding only if its name says so.
    assert counter.count_text("gpt-4", "hello world") == len(
        counter.encoding("cl100k_base").encode_ordinary("hello world")
    )


def test_remembered_texts_count_as_a_fresh_count_does(counter: TokenCounter) -> None:
    fresh = TokenCounter()
    history = [dict(m) for m in COOKBOOK_MESSAGES]
    first = counter.count_messages("gpt-4o", history)
    # A conversation's next turn resends every earlier message: those texts are remembered now.
    history.append({"role": "user", "content": "And what does 'move the needle' mean?"})
    assert counter.count_messages("gpt-4o", history) == fresh.count_messages("gpt-4o", history)
    assert counter.count_messages("gpt-4o", COOKBOOK_MESSAGES) == first == 124
    # One text, two encodings: remembered apart.
    text = "Things working well together will increase revenue, 12345 times."
    assert counter.count_text("gpt-4", text) == len(counter.encoding(CL100K).encode_ordinary(text))
    assert counter.count_text("gpt-4o", text) == len(counter.encoding(O200K).encode_ordinary(text))


def test_remembered_texts_stay_bounded(counter: TokenCounter) -> None:
    from modelrail.usage import tokens

    for i in range(tokens._TEXTS_REMEMBERED + 100):
        counter.count_text("gpt-4o", f"text number {i}")
    assert len(counter._texts) <= tokens._TEXTS_REMEMBERED
    page = "word " * (tokens._TEXT_CHARS_REMEMBERED // 100)
    for i in range(40):  # each 1/20 of the character bound: together twice that bound
        counter.count_text("gpt-4o", f"{i} {page}")
    assert counter._text_chars <= tokens._TEXT_CHARS_REMEMBERED
    assert sum(len(text) for _, text in counter._texts) == counter._text_chars > 0
    huge = "word " * tokens._TEXT_CHARS_REMEMBERED
    assert counter.count_text("gpt-4o", huge) == len(counter.encoding(O200K).encode_ordinary(huge))
    assert ("o200k_base", huge) not in counter._texts  # too big to hold
