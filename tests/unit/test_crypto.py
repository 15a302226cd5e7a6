"""Encryption at rest: MultiFernet with the newest key first."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
import pytest

from core.crypto import UNDECRYPTABLE, SecretBox


def test_secret_box_round_trip_json_values():
    box = SecretBox((Fernet.generate_key().decode(),))
    for value in ({"apiKey": "k", "nested": {"n": [1, 2]}}, "text", 12, None, []):
        token = box.encrypt(value)
        assert isinstance(token, str) and "apiKey" not in token
        assert box.decrypt(token) == value


def test_secret_box_encrypts_with_newest_key_and_reads_older():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    written_before = SecretBox((old,)).encrypt({"v": 1})
    rotated_box = SecretBox((new, old))
    assert rotated_box.decrypt(written_before) == {"v": 1}
    fresh = rotated_box.encrypt({"v": 2})
    assert SecretBox((new,)).decrypt(fresh) == {"v": 2}
    assert SecretBox((old,)).decrypt(fresh) is UNDECRYPTABLE


def test_secret_box_rotate_moves_to_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox((old,)).encrypt("s")
    rotated = SecretBox((new, old)).rotate(token)
    assert SecretBox((new,)).decrypt(rotated) == "s"
    with pytest.raises(InvalidToken):
        SecretBox((Fernet.generate_key().decode(),)).rotate(token)


def test_secret_box_unknown_or_garbage_token_undecryptable():
    box = SecretBox((Fernet.generate_key().decode(),))
    other = SecretBox((Fernet.generate_key().decode(),)).encrypt("x")
    assert box.decrypt(other) is UNDECRYPTABLE
    assert box.decrypt("not a token") is UNDECRYPTABLE
    assert not UNDECRYPTABLE and repr(UNDECRYPTABLE) == "<undecryptable secret>"


def test_secret_box_needs_a_key_and_hides_them():
    with pytest.raises(ValueError):
        SecretBox(())
    key = Fernet.generate_key().decode()
    assert key not in repr(SecretBox((key,)))
