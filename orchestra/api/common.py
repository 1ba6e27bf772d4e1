"""Helpers every route module shares: reading a body into a model, query parameters, JSON replies."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, request

from orchestra.core.errors import BadRequest, Unprocessable

M = TypeVar("M", bound=BaseModel)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def parse_body(model: type[M]) -> M:
    """Validate the JSON body against ``model``: 400 when it is not JSON, 422 naming the field."""
    raw = await request.get_data(cache=False)
    if not raw.strip():
        raise BadRequest("request body is empty; send a JSON object")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = json.loads(exc.json(include_url=False, include_input=False))
        if any(error["type"] == "json_invalid" for error in errors):
            raise BadRequest(f"malformed JSON: {errors[0]['msg']}") from None
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise Unprocessable("the body must be a JSON object", errors) from None
        described = [f"'{_field_name(tuple(e['loc']))}': {e['msg']}" for e in errors[:5]]
        raise Unprocessable("invalid field " + "; ".join(described), errors) from None


def query_int(name: str, default: int | None, *, low: int, high: int) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise Unprocessable(f"query parameter '{name}' must be an integer", {"field": name}) from None
    if not low <= number <= high:
        raise Unprocessable(f"query parameter '{name}' must be between {low} and {high}", {"field": name})
    return number


def json_response(body: Any, status: int = 200) -> Response:
    return raw_json_response(encode(body), status)


def no_content() -> Response:
    """204. The body must be bytes: ``Response(status=204)`` makes an iterable body, which Quart
    iterates on an asyncio executor, so under trio the connection dies after the headers are sent."""
    return Response(b"", status=204)


def raw_json_response(text: str, status: int = 200) -> Response:
    """A body already encoded (off the event loop, or cached). Every JSON answer ends with a newline,
    so that curl's output ends its line."""
    return Response(text if text.endswith("\n") else text + "\n", status=status, mimetype="application/json")


def encode(body: Any) -> str:
    """JSON text of ``body``. NaN and infinities raise ValueError (a 500) rather than go out as
    ``NaN``, which is not JSON: no client could parse the answer."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False)
