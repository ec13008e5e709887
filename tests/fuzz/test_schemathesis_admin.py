"""schemathesis against the admin API's own OpenAPI document (``/admin/v1/openapi.json``), in-process.

Every operation, with bodies, paths and queries generated from the schema (valid and invalid), sent with the
master key: no answer is a 5xx, every answer's status is documented and its body conforms to the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
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

pytestmark = pytest.mark.fuzz

# FastAPI documents the paths below its mount point.
BASE_URL = "http://testserver/admin"
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def admin_schema() -> Iterator[Any]:
    app = create_app(make_settings())
    schema = schemathesis.openapi.from_asgi("/admin/v1/openapi.json", app, headers=AUTH)
    yield schema
    schemathesis.python.asgi.shutdown_lifespans()


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_admin_schema_lists_every_route(admin_schema: Any) -> None:
    labels = {op.label for op in _operations(admin_schema)}
    assert "POST /v1/teams" in labels and "POST /v1/keys/{key}/rotate" in labels and "GET /v1/audit" in labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_admin_api_conforms_and_never_500(admin_schema: Any, mode: GenerationMode) -> None:
    operations = _operations(admin_schema)
    assert len(operations) >= 10
    statuses: set[int] = set()
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
            continue  # only string path parameters: there is no invalid value to send

        @settings(FUZZ, max_examples=8)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call_and_validate(base_url=BASE_URL, headers=AUTH, checks=CHECKS)
            statuses.add(response.status_code)

        run()
    # The cases reached the routes: some were accepted (positive) or refused by validation (negative).
    assert statuses & ({200, 201, 204} if mode is GenerationMode.POSITIVE else {400, 404}), statuses


def test_admin_api_without_a_key_is_refused(admin_schema: Any) -> None:
    """Every operation, with any valid input, refuses a caller without a key: 401 in the error shape."""
    for operation in _operations(admin_schema):

        @settings(FUZZ, max_examples=3)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=BASE_URL)
            assert response.status_code == 401, (case.method, case.formatted_path, response.text[:200])
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}

        run()
