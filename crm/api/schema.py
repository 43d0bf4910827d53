"""OpenAPI schema additions: the error responses every operation can give, so clients (and the schema
conformance fuzzing in tests/fuzz) know them. DRF answers errors as JSON objects: {"detail": "..."} or
{"<field>": ["message", ...]}."""

from __future__ import annotations

ERROR = "Error"
ERRORS = {
    "400": "Invalid input: the body names each field at fault, or `detail` says what is wrong.",
    "401": "No or invalid credentials.",
    "403": "The caller's role may not do this.",
    "404": "No such record visible to the caller.",
    "429": "Too many requests: retry after the `Retry-After` header's seconds.",
}
BODY_ERRORS = {"415": "Unsupported request content type."}
METHODS = ("get", "put", "post", "patch", "delete")


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the shared error responses where none is declared."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR] = {
        "type": "object",
        "description": "An error: `detail` for the request as a whole, or one key per field at fault.",
        "properties": {"detail": {"type": "string"}},
        "additionalProperties": True,
    }
    reference = {"$ref": f"#/components/schemas/{ERROR}"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            errors = {**ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for code, description in errors.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": reference}}})
    return result
