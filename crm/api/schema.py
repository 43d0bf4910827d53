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
BODY_ERRORS = {"413": "The request body or an uploaded file is too large.",
               "415": "Unsupported request content type."}
METHODS = ("get", "put", "post", "patch", "delete")


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def sparse_fieldsets(result, generator, request, public):
    """drf-spectacular postprocessing hook: where an operation takes ?fields= (crm.api.views sparse
    fieldsets), its response holds only the fields asked for, so no response property is required."""
    schemas = result.get("components", {}).get("schemas", {})
    sparse: set[str] = set()
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in METHODS and any(p.get("name") == "fields" and p.get("in") == "query"
                                         for p in operation.get("parameters", [])):
                for code, response in operation.get("responses", {}).items():
                    if code.startswith("2"):
                        sparse.update(_refs(response))
    pending = list(sparse)
    while pending:  # paginated wrappers point at the row component
        name = pending.pop()
        for ref in _refs(schemas.get(name, {})):
            if ref not in sparse:
                sparse.add(ref)
                pending.append(ref)
    for name in sparse:
        schema = schemas.get(name, {})
        if name.startswith("Paginated") or "properties" not in schema:
            continue
        schema.pop("required", None)
    # Search answers suggestions or ranked hits; an empty answer fits both shapes, so "any of", not "one of".
    if "oneOf" in schemas.get("SearchResults", {}):
        schemas["SearchResults"]["anyOf"] = schemas["SearchResults"].pop("oneOf")
    return result


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
