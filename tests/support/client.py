"""A test client that checks every response against the contract."""
from __future__ import annotations

import json as jsonlib
from typing import Any

from tests.support.contract import check_response


class ContractClient:
    """Wraps Connexion's test client; every response is validated with openapi-core."""

    def __init__(self, app) -> None:
        self.app = app
        self._client = app.test_client(follow_redirects=False)

    def request(self, method: str, url: str, *, headers: dict | None = None, json: Any = None,
                content: bytes | str | None = None, data: dict | None = None, check: bool = True):
        headers = dict(headers or {})
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content
        elif data is not None:
            from urllib.parse import urlencode

            body = urlencode(data).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        response = self._client.request(method, url, headers=headers, content=body)
        if check:
            check_response(method, str(response.request.url), headers, body, response)
        return response

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs):
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs):
        return self.request("DELETE", url, **kwargs)

    def put(self, url: str, **kwargs):
        return self.request("PUT", url, **kwargs)
