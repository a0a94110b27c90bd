"""The ATS API's OpenAPI document (docs/api.md), built from its route table and the pydantic
models, so the document says what the API enforces."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from bot.api_schemas import ErrorAnswer, ValidationErrorAnswer

_DESCRIPTIONS = {
    200: "OK (for a create: an existing record was updated)",
    201: "Created",
    204: "Done, no content",
    400: "Malformed JSON, or not a JSON object",
    401: "Missing or wrong bearer token",
    404: "Unknown id (or the API is disabled)",
    409: "The record's state does not allow this",
    413: "Body larger than 1 MB",
    415: "Body is not application/json",
    422: "Invalid or unknown fields, each named",
}


def openapi_document(
    routes: Sequence[Any], prefix: str, file_answer: Callable, any_json_answer: Callable
) -> dict[str, Any]:
    """OpenAPI 3.1 for the API's route table (paths under `prefix`; `file_answer` answers a
    file, `any_json_answer` free JSON), with the pydantic models as component schemas."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel], mode: str) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def json_content(schema: dict[str, Any]) -> dict[str, Any]:
        return {"application/json": {"schema": schema}}

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
            for name in re.findall(r"\{([^}]+)\}", route.path)
        ]
        if route.query is not None:
            properties = route.query.model_json_schema()["properties"]
            params += [
                {
                    "name": name,
                    "in": "query",
                    "required": f.is_required(),
                    "schema": properties[name],
                }
                for name, f in route.query.model_fields.items()
            ]
        if params:
            op["parameters"] = params
        codes = list(route.statuses)
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": json_content(ref(route.body, "validation")),
            }
            codes += [400, 413, 415, 422]
        if route.query is not None:
            codes.append(422)
        if not route.public:
            codes += [401, 404]
            op["security"] = [{"bearer": []}]
        if route.conflict:
            codes.append(409)
        responses: dict[str, Any] = {}
        for code in sorted(set(codes)):
            response: dict[str, Any] = {"description": _DESCRIPTIONS.get(code, "OK")}
            if code in route.statuses and route.answer is not None:
                response["content"] = json_content(ref(route.answer, "serialization"))
            elif code == 422:
                response["content"] = json_content(ref(ValidationErrorAnswer, "serialization"))
            elif code >= 400:
                response["content"] = json_content(ref(ErrorAnswer, "serialization"))
            elif route.handler is file_answer:
                response["content"] = {"application/octet-stream": {"schema": {}}}
            elif route.handler is any_json_answer:
                response["content"] = json_content({"type": "object"})
            responses[str(code)] = response
        op["responses"] = responses
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "offerbot ATS API",
            "version": "1",
            "description": "Push requisitions, candidates, applications, interviews and "
            "offers; read offers, candidate histories and statistics. JSON bodies, bearer "
            "token. Creates are upserts by external_id: 201 created, 200 updated.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
