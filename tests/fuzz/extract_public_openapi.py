"""Writes ``public_openapi.yaml``: the operations modelrail serves under ``/v1``, cut out of OpenAI's
published OpenAPI document with every schema they reference, so schemathesis can test the public routes.

Run from the repository root: ``python -m tests.fuzz.extract_public_openapi [path/to/openai-openapi.yaml]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

SOURCE = Path("/work/shared/reference/openai-openapi.yaml")
TARGET = Path(__file__).with_name("public_openapi.yaml")
# Not referenced by an operation once the event-stream responses are gone; test_never_500 checks chunks with it.
EXTRA_SCHEMAS = ["CreateChatCompletionStreamResponse"]
OPERATIONS = {"/chat/completions": ["post"], "/completions": ["post"], "/embeddings": ["post"], "/models": ["get"]}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        paths[path] = {m: spec["paths"][path][m] for m in methods}
        for operation in paths[path].values():
            # Examples and SDK snippets are documentation only, and the bulk of the file.
            operation.pop("x-oaiMeta", None)
            # OpenAI gives a stream's *chunk* schema as the text/event-stream schema; schemathesis reads that
            # schema as the SSE *event* ({"event", "data"}) and fails every stream. The never-500 suite checks
            # the chunks of streams instead (test_never_500.py and test_stream_chunks_conform_to_openai_spec).
            for response in operation.get("responses", {}).values():
                response.get("content", {}).pop("text/event-stream", None)
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(paths) | {f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS}
    while todo:
        _, _, section, name = todo.pop().split("/")  # "#/components/<section>/<name>"
        if name in components.setdefault(section, {}):
            continue
        components[section][name] = spec["components"][section][name]
        todo |= _refs(components[section][name])
    components = {section: dict(sorted(items.items())) for section, items in sorted(components.items())}
    # The spec types an embedding as an array of floats only; with encoding_format "base64" OpenAI (and
    # modelrail, and the SDK that decodes it) send a base64 string.
    vector = components["schemas"]["Embedding"]["properties"]["embedding"]
    components["schemas"]["Embedding"]["properties"]["embedding"] = {
        "description": vector.get("description", ""),
        "anyOf": [{k: v for k, v in vector.items() if k != "description"}, {"type": "string", "format": "byte"}],
    }
    components["securitySchemes"] = {"ApiKeyAuth": spec["components"]["securitySchemes"]["ApiKeyAuth"]}
    return {
        "openapi": spec["openapi"],
        "info": {"title": "modelrail public API (from OpenAI's OpenAPI document)", "version": spec["info"]["version"]},
        "servers": [{"url": "/v1"}],
        "security": [{"ApiKeyAuth": []}],
        "paths": paths,
        "components": components,
    }


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    spec = yaml.safe_load(source.read_text())
    TARGET.write_text(yaml.safe_dump(extract(spec), sort_keys=False, allow_unicode=True, width=120))


if __name__ == "__main__":
    main()
