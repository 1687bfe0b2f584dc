"""Request bodies that are not JSON: a document read as bytes, in one of the media types a route
accepts (415 otherwise), never more than the route's limit (413, before it is all read)."""

from __future__ import annotations

from fastapi import Request

from mes.api.errors import BodyTooLarge, MediaTypeUnsupported

YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
MAX_DOCUMENT_BYTES = 1_048_576  # 1 MiB, the size the YAML reader accepts from a file


def _media_type(request: Request, accepted: tuple[str, ...]) -> None:
    header = request.headers.get("content-type", "")
    kind, *params = (part.strip().lower() for part in header.split(";"))
    if kind not in accepted:
        given = f"{kind!r}" if kind else "no Content-Type"
        raise MediaTypeUnsupported(f"the body must be sent as {', '.join(accepted)}, not {given}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise MediaTypeUnsupported(f"the body must be UTF-8, not charset {value.strip()}")


async def read_document(request: Request, accepted: tuple[str, ...], max_bytes: int) -> bytes:
    """The raw body, checked for media type and size."""
    _media_type(request, accepted)
    too_large = BodyTooLarge(f"the body is larger than {max_bytes} bytes ({max_bytes // 1024} KiB)")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


async def yaml_document(request: Request) -> bytes:
    """A YAML document of at most :data:`MAX_DOCUMENT_BYTES` (a route dependency)."""
    return await read_document(request, YAML_MEDIA_TYPES, MAX_DOCUMENT_BYTES)


def yaml_request_body(description: str, schema: dict[str, object]) -> dict[str, object]:
    """The OpenAPI ``requestBody`` of a route reading :func:`yaml_document` (for ``openapi_extra``):
    the document's JSON Schema, under each YAML media type."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media: {"schema": schema} for media in YAML_MEDIA_TYPES},
        }
    }
