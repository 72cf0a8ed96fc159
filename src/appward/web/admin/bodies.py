"""What every admin resource does with bodies: reads JSON objects (problems become field
errors), documents them in OpenAPI, and keeps an answer that shows a secret uncached."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from appward.clients.metadata import field_errors
from appward.errors import InvalidInput
from appward.web.forms import body_limits, read_json_object

# An answer that carries a secret shown once must not linger in a cache.
NO_STORE = {"Cache-Control": "no-store"}

M = TypeVar("M", bound=BaseModel)


async def read_object(request: Request) -> dict[str, Any]:
    """Returns the body as a JSON object. Raises InvalidInput, or PayloadTooLarge for one
    over APPWARD_MAX_JSON_BYTES."""
    return await read_json_object(request, body_limits(request).json, InvalidInput)


async def read_model(request: Request, model: type[M]) -> M:
    """Returns the body validated as ``model``. Raises InvalidInput with a field error
    for every problem."""
    try:
        return model.model_validate(await read_object(request))
    except ValidationError as exc:
        problems = field_errors(exc)
        summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
        raise InvalidInput(summary, fields=problems) from None


def documented_body(model: type[BaseModel], title: str | None = None) -> dict[str, Any]:
    """Returns the ``openapi_extra`` that documents a body read by ``read_model``, which
    FastAPI cannot see for itself; ``title`` names the schema in the document when the
    model's own name is the domain's, not the API's."""
    schema = model.model_json_schema()
    if title is not None:
        schema["title"] = title
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
