from tests.conftest import auth

CREATE = {"platform": "whatsapp", "name": "Test Connection", "credentials": {}, "businessId": "test_business_id", "userId": "test_user_id"}


def test_create_connection_spec_payload_returns_qr(client, db):
    response = client.post("/api/v1/unipile/connections", headers=auth(), json=CREATE)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["status"] == "pending"
    assert data["checkpoint"]["qrcode"].startswith("data:image/png;base64,")
    stored = db.connections.find_one({})
    assert stored["businessId"] == "test_business_id"
    assert isinstance(stored["credentials"], bytes)
