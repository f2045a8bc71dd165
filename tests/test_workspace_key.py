"""The pseudonym key of a workspace (issue 20, item 1): identity is never forked. A store
with a vault refuses a missing or different key, a demo key is generated only in a new
demo workspace, and no person ever gets a second pseudonym."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from fh_screening.pipeline import ingest_step
from fh_screening.privacy import KEY_ENV, PseudonymKeyError, VaultError
from fh_screening.store import NotADemoWorkspace, Workspace, connect, mark_demo_workspace
from tests.conftest import TEST_KEY_HEX
from tests.data.bad_inputs.make_corpus import base_files

OTHER_KEY_HEX = "cd" * 32


def extract(tmp_path: Path) -> Path:
    folder = tmp_path / "extract"
    folder.mkdir(exist_ok=True)
    for name, data in base_files("syddanmark").items():
        (folder / name).write_bytes(data)
    return folder


def ingest(ws: Workspace, folder: Path) -> dict:
    return ingest_step(ws, "syddanmark", folder, validate=False)


def state(ws: Workspace) -> tuple:
    """Everything a forked identity would change: people, pseudonyms, vault pairs."""
    con = connect(ws.store_path, read_only=True)
    try:
        people = con.execute("select count(*), count(distinct person_id) from patients"
                             ).fetchall()[0]
        labs = con.execute("select count(*) from lab_results").fetchall()[0][0]
    finally:
        con.close()
    vault = duckdb.connect(str(ws.vault_path), read_only=True)
    try:
        pairs = vault.execute("select count(*), count(distinct cpr), count(distinct person_id) "
                              "from identity").fetchall()[0]
    finally:
        vault.close()
    return people, labs, pairs


def test_a_new_workspace_without_a_key_is_refused_and_says_how_to_supply_one(
        tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    ws = Workspace(tmp_path / "home")
    with pytest.raises(PseudonymKeyError) as err:
        ingest(ws, extract(tmp_path))
    assert KEY_ENV in str(err.value) and "openssl rand -hex 32" in str(err.value)
    assert str(ws.key_path) in str(err.value)
    assert not ws.key_path.exists()  # no demo key generated quietly


def test_no_person_gets_two_pseudonyms_whatever_key_is_given_later(tmp_path, monkeypatch):
    ws, folder = Workspace(tmp_path / "home"), extract(tmp_path)
    ingest(ws, folder)
    before = state(ws)
    (people, distinct), _, (pairs, cprs, pseudonyms) = before
    assert people == distinct == 5 and pairs == cprs == pseudonyms == 5
    # a month later: a new lab file, but the key is missing
    (folder / "laboratoriesvar_2.csv").write_bytes(
        b"cpr;proevetidspunkt;analysekode;resultat;enhed\n"
        b"010190-1235;01-04-2024 08:15;NPU01568;6,0;mmol/L\n")
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(PseudonymKeyError, match=r"holds 5 people.*second pseudonym"):
        ingest(ws, folder)
    assert not ws.key_path.exists()
    # ... or a different one
    monkeypatch.setenv(KEY_ENV, OTHER_KEY_HEX)
    with pytest.raises(PseudonymKeyError, match=r"is not the key the store .* was built with"):
        ingest(ws, folder)
    assert state(ws) == before  # nothing changed
    # with the original key the new file goes in, under the same pseudonyms
    monkeypatch.setenv(KEY_ENV, TEST_KEY_HEX)
    ingest(ws, folder)
    (people, distinct), labs, (pairs, cprs, pseudonyms) = state(ws)
    assert (people, distinct, pairs, cprs, pseudonyms) == (5, 5, 5, 5, 5)
    assert labs == before[1] + 1


def test_a_store_made_before_key_checks_is_checked_through_its_vault(tmp_path, monkeypatch):
    ws, folder = Workspace(tmp_path / "home"), extract(tmp_path)
    ingest(ws, folder)
    con = connect(ws.store_path)
    con.execute("delete from key_check")  # as an older version left it
    con.close()
    monkeypatch.setenv(KEY_ENV, OTHER_KEY_HEX)
    with pytest.raises(PseudonymKeyError, match="not the key the identity vault"):
        ingest(ws, folder)
    monkeypatch.setenv(KEY_ENV, TEST_KEY_HEX)
    ingest(ws, folder)  # the right key is adopted and recorded
    con = connect(ws.store_path, read_only=True)
    assert con.execute("select count(*) from key_check").fetchall() == [(1,)]
    con.close()


def test_a_demo_key_is_made_only_in_a_new_demo_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    ws, folder = Workspace(tmp_path / "demo"), extract(tmp_path)
    mark_demo_workspace(ws)
    ingest(ws, folder)
    assert ws.key_path.is_file()
    before = state(ws)
    ws.key_path.unlink()  # the demo key lost: it is not made again over existing people
    with pytest.raises(PseudonymKeyError, match="holds 5 people"):
        ingest(ws, folder)
    assert not ws.key_path.exists() and state(ws) == before


def test_the_demo_refuses_a_workspace_that_holds_a_real_store(tmp_path):
    ws = Workspace(tmp_path / "home")
    ingest(ws, extract(tmp_path))
    with pytest.raises(NotADemoWorkspace, match="another --home"):
        mark_demo_workspace(ws)
    assert not ws.is_demo


def test_a_store_whose_vault_is_missing_is_refused_with_what_to_restore(tmp_path):
    ws, folder = Workspace(tmp_path / "home"), extract(tmp_path)
    ingest(ws, folder)
    ws.vault_path.rename(tmp_path / "vault-backup.duckdb")
    with pytest.raises(VaultError, match=r"holds 5 people.*restore the vault/ folder"):
        ingest(ws, folder)
    assert not ws.vault_path.exists()  # no new, partial vault either
