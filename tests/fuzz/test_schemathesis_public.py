"""schemathesis against the public routes, with the operations of OpenAI's own OpenAPI document
(``public_openapi.yaml``, cut out by ``extract_public_openapi.py``): chat completions, completions,
embeddings and the model list.

Bodies are generated from OpenAI's request schemas (with ``model`` set to a configured alias, so they get
past routing) and sent in-process: no answer is a 5xx, and every 200 conforms to OpenAI's response schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from modelrail.app import create_app
from tests.conftest import AUTH, make_settings
from tests.fuzz.conftest import FUZZ
from tests.fuzz.test_never_500 import MODELS

pytestmark = pytest.mark.fuzz

SPEC = Path(__file__).with_name("public_openapi.yaml")
BASE_URL = "http://testserver/v1"
LABELS = ["POST /chat/completions", "POST /completions", "POST /embeddings", "GET /models"]


@pytest.fixture(scope="module")
def public_schema() -> Iterator[Any]:
    schema = schemathesis.openapi.from_path(SPEC)
    schema.app = create_app(make_settings(MODELS))
    yield schema
    schemathesis.python.asgi.shutdown_lifespans()


def _operation(schema: Any, label: str) -> Any:
    method, path = label.split(" ", 1)
    return schema[path][method]


def _with_alias(case: Any) -> Any:
    if isinstance(case.body, dict) and "model" in case.body:
        case.body = {**case.body, "model": "fake-chat"}
    return case


@pytest.mark.parametrize("label", LABELS)
def test_public_route_conforms_to_openai_spec(public_schema: Any, label: str) -> None:
    operation = _operation(public_schema, label)
    statuses: list[int] = []

    @settings(FUZZ, max_examples=25)
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(_with_alias))
    def run(case: Any) -> None:
        response = case.call_and_validate(
            base_url=BASE_URL, headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
        )
        statuses.append(response.status_code)

    run()
    # Bodies valid by OpenAI's schema are mostly answered: a 200 must be among them for the check to mean anything.
    assert 200 in statuses, statuses


@pytest.mark.parametrize("label", LABELS[:3])
def test_public_route_invalid_bodies_never_500(public_schema: Any, label: str) -> None:
    operation = _operation(public_schema, label)

    @settings(FUZZ, max_examples=15)
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(_with_alias))
    def run(case: Any) -> None:
        response = case.call(base_url=BASE_URL, headers=AUTH)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

    run()
