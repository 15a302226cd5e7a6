"""Validates every response the tests receive against openapi/openapi.yaml with openapi-core."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
OPENAPI = OpenAPI.from_dict(SPEC)
ERROR_SCHEMA = {**SPEC["components"]["schemas"]["Error"]}


class ContractRequest:
    """The request side of a test call, in openapi-core's protocol."""

    def __init__(self, method: str, url: str, headers: dict, body: bytes | None) -> None:
        parts = urlsplit(url)
        self.host_url = f"{parts.scheme or 'http'}://{parts.netloc or 'testserver'}"
        self.path = parts.path
        self.method = method.lower()
        self.body = body
        self.content_type = headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(parts.query)),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
        )


class ContractResponse:
    """The response side, in openapi-core's protocol."""

    def __init__(self, status_code: int, headers, data: bytes) -> None:
        self.status_code = status_code
        self.data = data
        self.content_type = headers.get("content-type", "")
        self.headers = Headers(dict(headers))


def check_response(method: str, url: str, request_headers: dict, request_body: bytes | None, response) -> None:
    """Fail the test unless the response is what the contract allows (errors: the Error schema)."""
    headers = {k.lower(): v for k, v in request_headers.items()}
    if response.status_code >= 400:
        check_error(response)
    request = ContractRequest(method, url, headers, request_body)
    result = ContractResponse(response.status_code, response.headers, response.content)
    try:
        OPENAPI.validate_response(request, result)
    except (PathNotFound, OperationNotFound, ServerNotFound):
        if method.upper() == "OPTIONS" and "access-control-request-method" in headers:
            # A CORS preflight is answered before routing, for any path.
            assert response.status_code == 204 and response.content == b"", response.status_code
            return
        # Not an operation of the contract (unknown path or method): it must be an error.
        assert response.status_code in (404, 405), f"{method} {url} is not in the contract but answered {response.status_code}"


def check_error(response) -> None:
    """Every error is the envelope with Content-Type application/json."""
    assert response.headers.get("content-type", "").split(";")[0] == "application/json", response.headers
    jsonschema.validate(json.loads(response.content), ERROR_SCHEMA)
