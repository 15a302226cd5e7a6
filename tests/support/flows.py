"""What the API tests share: the spec's payloads, creating connections, following sandbox links."""
from __future__ import annotations

import base64
import io
import re
from typing import Any
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image

from tests.conftest import auth

API = "/api/v1"
CONNECTIONS = f"{API}/unipile/connections"
ACTIVATE = f"{API}/whatsapp/activate"
PUBLIC_BASE_URL = "http://testserver"

# The spec's two curl payloads, verbatim.
SPEC_CREATE = {
    "platform": "whatsapp",
    "name": "Test Connection",
    "credentials": {},
    "businessId": "test_business_id",
    "userId": "test_user_id",
}
SPEC_ACTIVATE = {"businessId": "test_business_id"}
# ... and the bodies exactly as the spec's curl commands send them (-d '...').
CREATE_PAYLOAD = """{
    "platform": "whatsapp",
    "name": "Test Connection",
    "credentials": {},
    "businessId": "test_business_id",
    "userId": "test_user_id"
  }"""
ACTIVATE_PAYLOAD = """{
    "businessId": "test_business_id"
  }"""

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PNG_DATA_URL = re.compile(r"^data:image/png;base64,[A-Za-z0-9+/=]+$")
SANDBOX_ACCOUNT = re.compile(r"^sbx_[A-Za-z0-9_-]{16,}$")
PLACEHOLDER = re.compile(r"^pending_[0-9a-f]{24}$")
REFERENCE = r"[A-Za-z0-9_-]{16,64}"
SCAN_URL = re.compile(rf"^{PUBLIC_BASE_URL}{API}/sandbox/scan/{REFERENCE}$")
AUTHORIZE_URL = re.compile(rf"^{PUBLIC_BASE_URL}{API}/sandbox/authorize/{REFERENCE}$")
SANDBOX_PHONE = re.compile(r"^\+1555010\d{4}$")
QR_PLATFORMS = ("whatsapp", "telegram")
OAUTH_PLATFORMS = ("instagram", "linkedin", "messenger", "email")


def error(code: str, message: str) -> dict[str, Any]:
    """The whole error envelope."""
    return {"success": False, "message": message, "code": code}


def create(client, platform: str = "whatsapp", name: str = "Test Connection", *, headers: dict | None = None,
           expect: int = 201, **fields: Any) -> dict[str, Any]:
    """Create a connection through the API and return its data."""
    response = client.post(CONNECTIONS, headers=headers or auth(), json={"platform": platform, "name": name, **fields})
    assert response.status_code == expect, response.text
    return response.json()["data"]


def decode_qr(data_url: str) -> str:
    """The text a PNG data URL's QR code encodes, read as a phone camera would."""
    assert PNG_DATA_URL.match(data_url), data_url[:80]
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    # A clean rendered symbol: read it as a pure QR code (the generic scan can report ghost symbols).
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode, is_pure=True)
    assert len(found) == 1, "expected exactly one QR code in the image"
    return found[0].text


def link_of(data: dict[str, Any]) -> str:
    """The sandbox URL behind a create or activate response: decoded QR code or authUrl."""
    if "checkpoint" in data:
        return decode_qr(data["checkpoint"]["qrcode"])
    if "qrCode" in data:
        return decode_qr(data["qrCode"])
    return data["authUrl"]


def path_of(url: str) -> str:
    """The local path of an absolute URL on the test server."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_BASE_URL, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def scan(client, data: dict[str, Any]):
    """POST the scan page behind a QR code, as the sandbox phone does."""
    return client.post(path_of(link_of(data)))


def decide(client, data: dict[str, Any], decision: str = "approve"):
    """Submit the sandbox consent form behind an authUrl."""
    return client.post(path_of(link_of(data)), data={"decision": decision})


def activated(client, platform: str = "whatsapp", name: str = "Test Connection", *, headers: dict | None = None) -> dict[str, Any]:
    """A connection taken from pending to active through the sandbox; returns its stored API form."""
    data = create(client, platform, name, headers=headers)
    response = scan(client, data) if platform in QR_PLATFORMS else decide(client, data)
    assert response.status_code in (200, 303), response.text
    fetched = client.get(f"{CONNECTIONS}/{data['id']}", headers=headers or auth())
    assert fetched.json()["data"]["status"] == "active"
    return fetched.json()["data"]
