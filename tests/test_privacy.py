"""Pseudonym key handling."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pytest

from fh_screening.privacy import KEY_ENV, PseudonymKey, PseudonymKeyError, load_key


def test_pseudonym_is_truncated_hmac_sha256_of_the_digits():
    key = PseudonymKey(b"k" * 32)
    expected = hmac.new(b"k" * 32, b"0101901235", hashlib.sha256).hexdigest()[:32]
    assert key.pseudonym("010190-1235") == key.pseudonym("0101901235") == expected


def test_demo_key_is_created_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "vault" / "pseudonym.key"
    first = load_key(path, create_demo_key=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == first


def test_missing_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(PseudonymKeyError, match=KEY_ENV):
        load_key(tmp_path / "none.key")


def test_environment_key_wins_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    assert load_key(tmp_path / "none.key").key == bytes.fromhex("ab" * 32)
    monkeypatch.setenv(KEY_ENV, "abc")
    with pytest.raises(PseudonymKeyError, match="not hex|32 bytes"):
        load_key(tmp_path / "none.key")


def test_key_never_shows_in_repr():
    assert "6b6b" not in repr(PseudonymKey(b"k" * 32)) and "k" * 8 not in repr(
        PseudonymKey(b"k" * 32))
