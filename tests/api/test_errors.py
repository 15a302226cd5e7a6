"""Every error code of the contract, whoever raises it: the envelope, the status, and nothing changed."""
from __future__ import annotations

import json

import jwt
import pytest

from core.errors import ProviderError, ProviderUnavailable
from core.database import free_port
from tests.conftest import BUSINESS, TEST_JWT_SECRET, USER, auth
from tests.support.flows import ACTIVATE, CONNECTIONS, SPEC_ACTIVATE, SPEC_CREATE, activated, create, error
from tests.support.providers import failing


def token(claims: dict, secret: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm=algorithm)}"}


def claims(**changes) -> dict:
    import time

    return {"sub": USER, "businessId": BUSINESS, "exp": int(time.time()) + 600, **changes}


# VALIDATION_ERROR -------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"name": "No platform"},
    {"platform": "whatsapp"},
    {"platform": "myspace", "name": "Unknown platform"},
    {"platform": "whatsapp", "name": 5},
    {"platform": "whatsapp", "name": "Extra", "color": "blue"},
    {"platform": "whatsapp", "name": "Bad credentials", "credentials": "not an object"},
    {"platform": "whatsapp", "name": "Bad business", "businessId": "has space"},
    [],
    "text",
])
def test_create_connection_schema_violation_rejected(client, db, body):
    response = client.post(CONNECTIONS, headers=auth(), json=body)
    assert response.status_code == 400
    body = response.json()
    assert body == {"success": False, "message": body["message"], "code": "VALIDATION_ERROR"}
    assert 0 < len(body["message"]) <= 300
    assert db.connections.count_documents({}) == 0


def test_create_connection_extra_property_names_it(client, db):
    response = client.post(CONNECTIONS, headers=auth(), json={**SPEC_CREATE, "color": "blue"})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "color" in response.json()["message"]


@pytest.mark.parametrize("content, message", [
    (b'{"platform": "whatsapp", "name": ', "Request body is not valid JSON"),
    (b'{"platform": "whatsapp", "name": NaN}', "Request body is not valid JSON"),
    (b'{"platform": "whatsapp", "name": "caf\xe9"}', "Request body must be UTF-8 encoded JSON"),
    (b'{"platform": "whatsapp", "name": "x", "credentials": {"$where": "1"}}',
     "JSON keys must not start with '$' or contain NUL characters"),
    (b'{"platform": "whatsapp", "name": "x", "credentials": {"a\\u0000b": 1}}',
     "JSON keys must not start with '$' or contain NUL characters"),
    (b'{"platform": "whatsapp", "name": "\\ud800"}', "Request body contains invalid Unicode (unpaired surrogates)"),
    (b"[" * 100_000 + b"]" * 100_000, "Request body is nested too deeply"),
])
def test_create_connection_malformed_json_rejected(client, db, content, message):
    response = client.post(CONNECTIONS, headers={**auth(), "Content-Type": "application/json"}, content=content)
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", message)
    assert db.connections.count_documents({}) == 0


def test_create_connection_empty_body_rejected(client, db):
    response = client.post(CONNECTIONS, headers={**auth(), "Content-Type": "application/json"}, content=b"")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_update_connection_status_malformed_json_rejected(client, db):
    made = activated(client)
    response = client.patch(f"{CONNECTIONS}/{made['id']}/status", headers={**auth(), "Content-Type": "application/json"},
                            content=b'{"status": "inactive"')
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "Request body is not valid JSON")
    assert db.connections.find_one({})["status"] == "active"


# UNAUTHORIZED / INVALID_TOKEN / TOKEN_EXPIRED ----------------------------------------------------

MISSING = error("UNAUTHORIZED", "Authentication required: send Authorization: Bearer <token>")
INVALID = error("INVALID_TOKEN", "Token is invalid")


@pytest.mark.parametrize("method, url", [
    ("GET", CONNECTIONS), ("POST", CONNECTIONS), ("GET", f"{CONNECTIONS}/abc"), ("DELETE", f"{CONNECTIONS}/abc"),
    ("PATCH", f"{CONNECTIONS}/abc/status"), ("POST", ACTIVATE),
])
def test_every_operation_without_token_unauthorized(client, db, method, url):
    response = client.request(method, url, json={"status": "active"} if method == "PATCH" else SPEC_CREATE)
    assert response.status_code == 401
    assert response.json() == MISSING


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
def test_list_connections_other_scheme_unauthorized(client, db, header):
    response = client.get(CONNECTIONS, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == MISSING


CLAIMS_MISSING = error("INVALID_TOKEN", "Token must carry string sub and businessId claims")


@pytest.mark.parametrize("headers, body", [
    ({"Authorization": "Bearer garbage"}, INVALID),
    ({"Authorization": "Bearer a.b.c"}, INVALID),
    (token(claims(), secret="another-secret-0123456789-abcdefghijklmnop"), INVALID),
    (token(claims(), secret=TEST_JWT_SECRET * 2, algorithm="HS512"), INVALID),
    ({"Authorization": "Bearer " + jwt.encode(claims(), None, algorithm="none")}, INVALID),
    (token({"sub": USER, "businessId": BUSINESS}), INVALID),
    (token(claims(businessId=None)), CLAIMS_MISSING),
    (token(claims(businessId=12)), CLAIMS_MISSING),
    (token(claims(sub="")), CLAIMS_MISSING),
    (token(claims(role="superuser")), error("INVALID_TOKEN", "Token role must be owner, admin or member")),
])
def test_list_connections_bad_token_invalid(client, db, headers, body):
    response = client.get(CONNECTIONS, headers=headers)
    assert response.status_code == 401
    assert response.json() == body


def test_list_connections_expired_token(client, db):
    response = client.get(CONNECTIONS, headers=token(claims(exp=1_000_000)))
    assert response.status_code == 401
    assert response.json() == error("TOKEN_EXPIRED", "Token has expired")


def test_list_connections_expired_within_leeway_accepted(client, db):
    import time

    response = client.get(CONNECTIONS, headers=token(claims(exp=int(time.time()) - 5)))
    assert response.status_code == 200


def test_create_connection_invalid_token_changes_nothing(client, db):
    response = client.post(CONNECTIONS, headers={"Authorization": "Bearer garbage"}, json=SPEC_CREATE)
    assert response.status_code == 401
    assert db.connections.count_documents({}) == 0


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_list_connections_scheme_case_insensitive(client, db, scheme):
    value = auth()["Authorization"].split(" ", 1)[1]
    response = client.get(CONNECTIONS, headers={"Authorization": f"{scheme} {value}"})
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": []}


# FORBIDDEN ---------------------------------------------------------------------------------------

def test_member_role_reads_but_never_writes(client, db):
    made = activated(client)
    member = auth(role="member")
    assert client.get(CONNECTIONS, headers=member).status_code == 200
    assert client.get(f"{CONNECTIONS}/{made['id']}", headers=member).status_code == 200
    writes = [
        client.post(CONNECTIONS, headers=member, json={"platform": "telegram", "name": "New"}),
        client.patch(f"{CONNECTIONS}/{made['id']}/status", headers=member, json={"status": "inactive"}),
        client.delete(f"{CONNECTIONS}/{made['id']}", headers=member),
        client.post(ACTIVATE, headers=member, json=SPEC_ACTIVATE),
    ]
    for response in writes:
        assert response.status_code == 403
        assert response.json() == error("FORBIDDEN", "Your role may only read")
    assert [c["status"] for c in client.get(CONNECTIONS, headers=auth()).json()["data"]] == ["active"]
    assert db.whatsapp_integrations.count_documents({}) == 0


# NOT_FOUND / METHOD_NOT_ALLOWED ------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/v1/nothing", "/api/v2/unipile/connections", "/", "/api/v1/unipile", "/api/v1"])
def test_unknown_route_not_found(client, db, url):
    response = client.get(url, headers=auth())
    assert response.status_code == 404
    assert response.json() == error("NOT_FOUND", "Resource not found")


@pytest.mark.parametrize("url", [f"{CONNECTIONS}/", f"{CONNECTIONS}/abc/", f"{ACTIVATE}/", f"{CONNECTIONS}/abc/status/"])
def test_trailing_slash_not_found_without_redirect(client, db, url):
    response = client.get(url, headers=auth())
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json() == error("NOT_FOUND", "Resource not found (paths have no trailing slash)")


@pytest.mark.parametrize("method, url, allow", [
    ("PUT", CONNECTIONS, "GET, POST"),
    ("DELETE", CONNECTIONS, "GET, POST"),
    ("PATCH", CONNECTIONS, "GET, POST"),
    ("POST", f"{CONNECTIONS}/abc", "DELETE, GET"),
    ("PUT", f"{CONNECTIONS}/abc", "DELETE, GET"),
    ("GET", f"{CONNECTIONS}/abc/status", "PATCH"),
    ("GET", ACTIVATE, "POST"),
    ("DELETE", "/api/v1/sandbox/scan/" + "a" * 20, "GET, POST"),
])
def test_wrong_method_not_allowed_with_allow_header(client, db, method, url, allow):
    response = client.request(method, url, headers=auth())
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == error("METHOD_NOT_ALLOWED", "Method not allowed")


@pytest.mark.parametrize("suffix", ["a%2Fb", "a%2fb%2fc", "abc%0A", "%0A", "abc%00", "%00", "a%5Cb", "..%2F..%2Fetc",
                                    "%E2%80%AE", "a%20b", "x" * 201, "%FF"])
def test_get_connection_odd_ids_never_500(client, db, suffix):
    create(client)
    for method, url in (("GET", f"{CONNECTIONS}/{suffix}"), ("DELETE", f"{CONNECTIONS}/{suffix}"),
                        ("PATCH", f"{CONNECTIONS}/{suffix}/status")):
        response = client.request(method, url, headers=auth(), json={"status": "active"} if method == "PATCH" else None)
        assert response.status_code in (400, 404), (method, url, response.status_code)
        assert response.json()["code"] in ("VALIDATION_ERROR", "NOT_FOUND", "CONNECTION_NOT_FOUND")
    assert db.connections.count_documents({}) == 1



@pytest.mark.parametrize("url", [
    "/api/v1//unipile/connections", "/api/v1/unipile//connections", "/api//v1/unipile/connections",
    f"{CONNECTIONS}//abc", "/api/v1/sandbox//complete",
])
def test_doubled_slash_not_found_without_redirect(client, db, url):
    response = client.get(url, headers=auth())
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json() == error("NOT_FOUND", "Resource not found")


def test_update_connection_status_encoded_slash_in_id_not_found(client, db):
    made = activated(client)
    response = client.patch(f"{CONNECTIONS}/{made['id']}%2F/status", headers=auth(), json={"status": "inactive"})
    assert response.status_code == 404
    assert response.json() == error("NOT_FOUND", "Resource not found")
    assert db.connections.find_one({})["status"] == "active"


@pytest.mark.parametrize("secret", ["sk_live_TOPSECRET123", ["sk_live_TOPSECRET123"], 12345678987654321])
def test_create_connection_invalid_credentials_never_echoed(client, db, secret):
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "email", "name": "Inbox", "credentials": secret})
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "credentials must be a JSON object of at most 100 properties")
    assert db.connections.count_documents({}) == 0


def test_create_connection_too_many_credentials_never_echoed(client, db):
    credentials = {"apiKey": "sk_live_TOPSECRET123", **{f"k{i}": "v" for i in range(100)}}
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "email", "name": "Inbox", "credentials": credentials})
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "credentials must be a JSON object of at most 100 properties")
    assert db.connections.count_documents({}) == 0

# PAYLOAD_TOO_LARGE / UNSUPPORTED_MEDIA_TYPE ------------------------------------------------------

def test_create_connection_body_over_max_body_bytes(make_client, db):
    client = make_client(MAX_BODY_BYTES=2048)
    body = {"platform": "email", "name": "Big", "credentials": {"blob": "x" * 3000}}
    response = client.post(CONNECTIONS, headers=auth(), json=body)
    assert response.status_code == 413
    assert response.json() == error("PAYLOAD_TOO_LARGE", "Request body must be at most 2048 bytes")
    assert db.connections.count_documents({}) == 0


def test_create_connection_chunked_body_over_max_body_bytes(make_client, db):
    client = make_client(MAX_BODY_BYTES=2048)

    def chunks():
        yield b'{"platform": "email", "name": "Big", "credentials": {"blob": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}}'

    raw = client._client.post(CONNECTIONS, headers={**auth(), "Content-Type": "application/json"}, content=chunks())
    assert raw.status_code == 413
    assert raw.json() == error("PAYLOAD_TOO_LARGE", "Request body must be at most 2048 bytes")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"])
def test_create_connection_unsupported_media_type(client, db, content_type):
    response = client.post(CONNECTIONS, headers={**auth(), "Content-Type": content_type},
                           content=json.dumps(SPEC_CREATE))
    assert response.status_code == 415
    assert response.json() == error("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    assert db.connections.count_documents({}) == 0



@pytest.mark.parametrize("method, url, body", [
    ("POST", CONNECTIONS, SPEC_CREATE),
    ("POST", ACTIVATE, SPEC_ACTIVATE),
])
def test_body_without_content_type_unsupported_media_type(client, db, method, url, body):
    response = client.request(method, url, headers=auth(), content=json.dumps(body))
    assert response.status_code == 415
    assert response.json() == error("UNSUPPORTED_MEDIA_TYPE", "Content-Type is required with a request body")
    assert db.connections.count_documents({}) == 0
    assert db.whatsapp_integrations.count_documents({}) == 0


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_create_connection_media_type_case_insensitive(client, db, content_type):
    response = client.post(CONNECTIONS, headers={**auth(), "Content-Type": content_type}, content=json.dumps(SPEC_CREATE))
    assert response.status_code == 201
    assert response.json()["data"]["status"] == "pending"
    assert db.connections.count_documents({}) == 1


def test_create_connection_chunked_body_accepted(client, db):
    def chunks():
        yield b'{"platform": "email", '
        yield b'"name": "Chunked"}'

    raw = client._client.post(CONNECTIONS, headers={**auth(), "Content-Type": "application/json"}, content=chunks())
    assert raw.status_code == 201
    assert db.connections.find_one({})["name"] == "Chunked"


def test_update_connection_status_chunked_body_accepted(client, db):
    made = activated(client)

    def chunks():
        yield b'{"status": '
        yield b'"inactive"}'

    raw = client._client.patch(f"{CONNECTIONS}/{made['id']}/status", headers={**auth(), "Content-Type": "application/json"},
                               content=chunks())
    assert raw.status_code == 200
    assert raw.json()["data"]["status"] == "inactive"
    assert db.connections.find_one({})["status"] == "inactive"

def test_update_connection_status_unsupported_media_type(client, db):
    made = activated(client)
    response = client.patch(f"{CONNECTIONS}/{made['id']}/status", headers={**auth(), "Content-Type": "text/plain"},
                            content='{"status": "inactive"}')
    assert response.status_code == 415
    assert response.json() == error("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
    assert db.connections.find_one({})["status"] == "active"


# RATE_LIMITED ------------------------------------------------------------------------------------

def test_create_connection_rate_limited(make_client, db):
    client = make_client(RATELIMIT_CREATE="2/minute")
    create(client, "whatsapp", "One")
    create(client, "whatsapp", "Two")
    response = client.post(CONNECTIONS, headers=auth(), json={"platform": "whatsapp", "name": "Three"})
    assert response.status_code == 429
    assert response.json() == error("RATE_LIMITED", "Too many requests: limit is 2 per 1 minute; try again later")
    assert 0 < int(response.headers["retry-after"]) <= 60
    assert db.connections.count_documents({}) == 2
    # Limits are per user: a colleague still can create, and reads have their own limit.
    create(client, "whatsapp", "Three", headers=auth(user="colleague"))
    assert client.get(CONNECTIONS, headers=auth()).status_code == 200


def test_activate_whatsapp_rate_limited(make_client, db):
    client = make_client(RATELIMIT_CREATE="1/minute")
    assert client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE).status_code == 200
    response = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert "retry-after" in response.headers


def test_list_connections_rate_limited(make_client, db):
    client = make_client(RATELIMIT_DEFAULT="3/minute")
    for _ in range(3):
        assert client.get(CONNECTIONS, headers=auth()).status_code == 200
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 429
    assert response.json() == error("RATE_LIMITED", "Too many requests: limit is 3 per 1 minute; try again later")


def test_success_responses_carry_no_retry_after(client, db):
    response = client.get(CONNECTIONS, headers=auth())
    assert response.status_code == 200
    assert "retry-after" not in response.headers


# INTERNAL_ERROR / PROVIDER_ERROR / PROVIDER_UNAVAILABLE ------------------------------------------

def test_create_connection_unexpected_provider_crash_internal_error(make_client, db):
    client = make_client(providers=failing(RuntimeError("boom at /srv/secret/path token=abc")))
    response = client.post(CONNECTIONS, headers=auth(), json=SPEC_CREATE)
    assert response.status_code == 500
    assert response.json() == error("INTERNAL_ERROR", "Internal server error")
    assert "Traceback" not in response.text and "boom" not in response.text
    assert db.connections.count_documents({}) == 0
    assert db.auth_attempts.count_documents({}) == 0


@pytest.mark.parametrize("exc, status, code, message", [
    (ProviderError(), 502, "PROVIDER_ERROR", "The messaging provider rejected the request"),
    (ProviderError("Unipile refused: account limit reached"), 502, "PROVIDER_ERROR", "Unipile refused: account limit reached"),
    (ProviderUnavailable(), 503, "PROVIDER_UNAVAILABLE", "The messaging provider is unavailable; try again shortly"),
])
def test_create_connection_provider_failure_leaves_nothing(make_client, db, exc, status, code, message):
    client = make_client(providers=failing(exc))
    response = client.post(CONNECTIONS, headers=auth(), json=SPEC_CREATE)
    assert response.status_code == status
    assert response.json() == error(code, message)
    assert db.connections.count_documents({}) == 0
    assert db.auth_attempts.count_documents({}) == 0


def test_create_connection_provider_failure_keeps_pending_twin(client, make_client, db):
    made = create(client, "whatsapp", "Twin")
    before = db.connections.find_one({})
    broken = make_client(providers=failing(ProviderUnavailable()))
    response = broken.post(CONNECTIONS, headers=auth(), json={"platform": "whatsapp", "name": "Twin"})
    assert response.status_code == 503
    assert db.connections.find_one({}) == before
    assert db.auth_attempts.count_documents({}) == 0
    assert made["id"] == str(before["_id"])


@pytest.mark.parametrize("exc, status, code", [(ProviderError(), 502, "PROVIDER_ERROR"),
                                              (ProviderUnavailable(), 503, "PROVIDER_UNAVAILABLE")])
def test_delete_connection_provider_failure_keeps_record(client, make_client, db, exc, status, code):
    made = activated(client)
    before = db.connections.find_one({})
    broken = make_client(providers=failing(exc))
    response = broken.delete(f"{CONNECTIONS}/{made['id']}", headers=auth())
    assert response.status_code == status
    assert response.json()["code"] == code
    assert db.connections.find_one({}) == before


@pytest.mark.parametrize("exc, status, code", [(ProviderError(), 502, "PROVIDER_ERROR"),
                                              (ProviderUnavailable(), 503, "PROVIDER_UNAVAILABLE"),
                                              (ValueError("unexpected"), 500, "INTERNAL_ERROR")])
def test_activate_whatsapp_provider_failure_keeps_no_link(make_client, db, exc, status, code):
    client = make_client(providers=failing(exc))
    response = client.post(ACTIVATE, headers=auth(), json=SPEC_ACTIVATE)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert db.auth_attempts.count_documents({}) == 0
    # The business's integration record stays as before any attempt (pending); no link was handed out.
    assert [(d["status"], d["phoneNumber"]) for d in db.whatsapp_integrations.find({})] == [("pending", "pending")]


# DATABASE_UNAVAILABLE ----------------------------------------------------------------------------

@pytest.mark.parametrize("method, url, body", [
    ("GET", CONNECTIONS, None),
    ("POST", CONNECTIONS, SPEC_CREATE),
    ("GET", f"{CONNECTIONS}/abc", None),
    ("DELETE", f"{CONNECTIONS}/abc", None),
    ("PATCH", f"{CONNECTIONS}/abc/status", {"status": "active"}),
    ("POST", ACTIVATE, SPEC_ACTIVATE),
    ("POST", "/api/v1/sandbox/scan/" + "a" * 32, None),
])
def test_database_down_unavailable(make_client, method, url, body):
    client = make_client(MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}", DB_TIMEOUT_MS=150)
    response = client.request(method, url, headers=auth(), json=body)
    assert response.status_code == 503
    assert response.json() == error("DATABASE_UNAVAILABLE", "The database is unavailable; try again shortly")


def test_query_parameter_errors_are_one_line(client, db):
    response = client.get("/api/v1/sandbox/complete?outcome=x")
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "'x' is not one of ['success', 'failure']")


def test_unknown_query_parameter_rejected(client, db):
    response = client.get(f"{CONNECTIONS}?foo=1", headers=auth())
    assert response.status_code == 400
    assert response.json() == error("VALIDATION_ERROR", "Extra query parameter(s) foo not in spec")
