"""Pseudonym key handling."""

from __future__ import annotations

import hashlib
import hmac
import stat

import duckdb
import pytest

from fh_screening.privacy import (
    KEY_ENV,
    PSEUDONYM_FLOOR,
    PseudonymCollision,
    PseudonymKey,
    PseudonymKeyError,
    add_identities,
    attach_vault,
    load_key,
)
from fh_screening.store import run_sql


def test_pseudonym_is_truncated_hmac_sha256_of_the_digits():
    key = PseudonymKey(b"k" * 32)
    # HMAC-SHA256(k*32, "0101901235") starts 648db927091e8c56; by hand:
    # 0x648db927091e8c56 >> 2 = 0x1923 6e49 c247 a315, with bit 62 set 0x5923 6e49 c247 a315
    assert hmac.new(b"k" * 32, b"0101901235", hashlib.sha256).hexdigest()[:16] == \
        "648db927091e8c56"
    assert key.pseudonym("010190-1235") == key.pseudonym("0101901235") == 0x59236E49C247A315
    assert 0x59236E49C247A315 == 6423098756631601941


def test_sql_pseudonym_equals_the_python_twin_and_stays_in_its_range():
    key = PseudonymKey(b"k" * 32)
    con = duckdb.connect()
    run_sql(con, "schema/macros")
    cprs = ["0101901235", "3112991234", "0101000000", "1505734567"]
    got = [con.execute("select pseudonym($d, $ipad, $opad)",
                       {"d": c, **key.sql_params()}).fetchall()[0][0] for c in cprs]
    assert got == [key.pseudonym(c) for c in cprs]
    assert all(PSEUDONYM_FLOOR <= p < 2 * PSEUDONYM_FLOOR for p in got)
    assert all(p > 10**10 for p in got)  # a CPR number read as a number is far below


def test_a_pseudonym_standing_for_two_cpr_numbers_is_refused_before_anything_is_added(
        tmp_path):
    con = duckdb.connect()
    attach_vault(con, tmp_path / "vault" / "identity.duckdb")
    add_identities(con, "select 4611686018427387905 as person_id, '0101901235' as cpr")
    # the same pair again is not a clash; another CPR number under that pseudonym is
    add_identities(con, "select 4611686018427387905 as person_id, '0101901235' as cpr")
    with pytest.raises(PseudonymCollision, match="new pseudonym key") as err:
        add_identities(con, "select 4611686018427387905 as person_id, '0202902345' as cpr "
                            "union all select 4611686018427387906, '0303903456'")
    assert "0202902345" not in str(err.value) and "4611686018427387905" not in str(err.value)
    with pytest.raises(PseudonymCollision):  # two CPR numbers in one batch
        add_identities(con, "select 4611686018427387907 as person_id, '0404904567' as cpr "
                            "union all select 4611686018427387907, '0505905678'")
    assert con.execute("select person_id, cpr from vault.identity").fetchall() == [
        (4611686018427387905, "0101901235")]


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
