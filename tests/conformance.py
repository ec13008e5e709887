"""Validate JSON bodies against the component schemas of OpenAI's published OpenAPI spec.

    from tests.conformance import validate_against
    validate_against("CreateChatCompletionResponse", body)

The spec is ``../shared/reference/openai-openapi.yaml`` from the repository root (or the path in
``MODELRAIL_OPENAI_SPEC``). Without it the calling test is skipped, except under ``CI=true``, where a
missing spec fails the test: CI must not pass by checking nothing.

The spec is parsed and its registry built once per process (about a second); each schema's
validator is built once on first use, so validating is then cheap.

OpenAPI 3.1 schemas are JSON Schema 2020-12, but parts of OpenAI's spec still use the 3.0
keyword ``nullable: true``, which 2020-12 ignores (so ``null`` would be refused). Those nodes are
rewritten to also accept ``null`` before the registry is built.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai:openapi"
REPO_ROOT = Path(__file__).resolve().parent.parent


def spec_path() -> Path:
    override = os.environ.get("MODELRAIL_OPENAI_SPEC")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "reference" / "openai-openapi.yaml"


def _accept_null(node: Any) -> Any:
    """A copy of ``node`` where every schema with ``nullable: true`` also accepts ``null``."""
    if isinstance(node, list):
        return [_accept_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _accept_null(value) for key, value in node.items()}
    # `is True`: a *property* called "nullable" maps to a schema (a dict), not to a flag.
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _registry() -> Registry[Any]:
    path = spec_path()
    if not path.is_file():
        message = f"OpenAI OpenAPI spec not found at {path} (set MODELRAIL_OPENAI_SPEC to its path)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with path.open("rb") as handle:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        spec = yaml.load(handle, Loader=loader)
    resource = Resource.from_contents(_accept_null(spec), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


@functools.cache
def _validator(schema_name: str) -> Draft202012Validator:
    registry = _registry()
    schemas = registry.contents(SPEC_URI)["components"]["schemas"]
    if schema_name not in schemas:
        raise KeyError(f"no schema named {schema_name!r} in the OpenAI spec's components")
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def schema_names() -> list[str]:
    """Every component schema name in the spec (skips like ``validate_against`` without a spec)."""
    return sorted(_registry().contents(SPEC_URI)["components"]["schemas"])


def validate_against(schema_name: str, instance: Any) -> None:
    """Fail the test with the most relevant error unless ``instance`` matches the named schema of
    ``#/components/schemas``. Skips (or fails under ``CI=true``) when the spec file is absent."""
    validator = _validator(schema_name)
    error = best_match(validator.iter_errors(instance))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        pytest.fail(f"not a valid {schema_name} at {where}: {error.message}", pytrace=False)
