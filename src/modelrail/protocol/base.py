"""The one base model for wire types, and the translation of validation errors.

Policy for unknown fields: requests *accept* them (``extra="allow"``). The API forwards the
client's original JSON object, so fields modelrail does not model still reach OpenAI-compatible
upstreams; providers that translate to another wire format drop what they cannot carry.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from modelrail.errors import InvalidRequest, PayloadTooLarge

JSONObject = dict[str, Any]

M = TypeVar("M", bound="WireModel")


class WireModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)


def parse_json_object(body: bytes, *, max_bytes: int) -> JSONObject:
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"Request body is {len(body)} bytes; the limit is {max_bytes} bytes.")
    if not body:
        raise InvalidRequest("Request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    return data


def validate(model: type[M], data: JSONObject) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request_from(exc) from None


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "json-or-python"})


def _is_tag(part: object) -> bool:
    """Union members and validators appear in pydantic's error locations; they are not fields."""
    if not isinstance(part, str):
        return False
    return part in _TYPE_TAGS or "[" in part or part.startswith(("function-", "constrained-", "lax-", "strict-"))


def invalid_request_from(exc: ValidationError) -> InvalidRequest:
    errors = exc.errors(include_url=False)
    # Of a union's alternatives, the one that failed on a constraint (not on the type) says most.
    first = min(errors, key=lambda e: e["type"].endswith("_type"))
    loc = [str(p) for p in first["loc"] if not _is_tag(p)]
    param = ".".join(loc) if loc else None
    if first["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    where = f"'{param}'" if param else "the request"
    return InvalidRequest(f"Invalid value for {where}: {first['msg']}.", param=param, code="invalid_value")
