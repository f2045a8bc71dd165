"""The pseudonym key of a workspace, checked against the one its store was built with.

A person's pseudonym is the keyed HMAC of their CPR number, so a run under another key
(or a freshly generated one) would give every known person a second pseudonym: a second
patient row, and their history split in two. So, before anything is ingested:

- the key comes from `$FH_PSEUDONYM_KEY` or `<home>/vault/pseudonym.key`; a missing key is
  generated only in a demo workspace (`store.mark_demo_workspace`) that holds nobody yet;
- the store records the key's fingerprint (`key_check`, an HMAC of a fixed text, which
  tells nothing about the key) on first use and refuses any other key after that;
- the vault is checked too: a sample of its (pseudonym, CPR) pairs must be what the key
  gives (this also adopts stores made before `key_check` existed);
- a store that holds people but whose vault is missing is refused (restore the vault).

The vault is read on a separate in-memory DuckDB connection, so no CPR number enters the
store connection's buffers (docs/robustness.md, "CPR numbers and the store file").
"""

from __future__ import annotations

import duckdb

from fh_screening.privacy import (
    PseudonymKey,
    PseudonymKeyError,
    VaultError,
    key_help,
    load_key,
    open_vault,
)
from fh_screening.store import Workspace, run_sql

# Vault pairs whose pseudonym is recomputed under the key: one mismatch shows another key
# (a wrong key matches a pair by chance with probability 2^-62).
VAULT_SAMPLE = 64


def workspace_key(ws: Workspace, con: duckdb.DuckDBPyConnection) -> PseudonymKey:
    """The key for ingesting into this workspace's store (`con`), or PseudonymKeyError /
    VaultError with a sentence saying what to do. Records the key's fingerprint in a
    store that has none yet."""
    people = con.execute("select count(*) from patients").fetchall()[0][0]
    recorded = {f for (f,) in con.execute("select fingerprint from key_check").fetchall()}
    identities = _vault_rows(ws) if ws.vault_path.exists() else 0
    holds_people = bool(people or identities or recorded)
    try:
        key = load_key(ws.key_path, create_demo_key=ws.is_demo and not holds_people)
    except PseudonymKeyError as exc:
        if holds_people:
            raise PseudonymKeyError(
                f"no pseudonym key, but the workspace {ws.home} holds {people:,} people "
                "pseudonymised with one: a new key would give each of them a second "
                f"pseudonym and split their history. Supply the original key: "
                f"{key_help(ws.key_path)}") from exc
        raise PseudonymKeyError(
            f"no pseudonym key for the workspace {ws.home}. A new workspace needs a key "
            "made once and kept safe with the vault's backups (e.g. `openssl rand -hex 32`); "
            f"{key_help(ws.key_path)}. For the synthetic demo run `fh-screening demo`, "
            "which makes its own workspace") from exc
    fingerprint = key.fingerprint()
    if recorded and fingerprint not in recorded:
        raise _wrong_key(ws, key, "the store")
    if identities and _vault_mismatches(ws, key):
        raise _wrong_key(ws, key, "the identity vault")
    if people and not identities and not ws.is_staging:
        raise VaultError(
            f"the store {ws.store_path} holds {people:,} people, but the identity vault "
            f"{ws.vault_path} is missing or empty: restore the vault/ folder from the "
            "workspace's backup (without it no list can name its patients)")
    if not recorded:
        con.execute("insert into key_check values (?, now()::timestamp)", [fingerprint])
    return key


def _wrong_key(ws: Workspace, key: PseudonymKey, where: str) -> PseudonymKeyError:
    return PseudonymKeyError(
        f"the pseudonym key from {key.origin or 'the environment'} is not the key {where} of "
        f"{ws.home} was built with: ingesting under it would give every known person a "
        f"second pseudonym. Nothing was changed. Supply the original key: "
        f"{key_help(ws.key_path)}")


def _vault_rows(ws: Workspace) -> int:
    with open_vault(ws.vault_path) as vault:
        return vault.execute("select count(*) from vault.identity").fetchall()[0][0]


def _vault_mismatches(ws: Workspace, key: PseudonymKey) -> int:
    """Vault pairs (of a fixed sample) whose pseudonym this key does not give."""
    with open_vault(ws.vault_path) as vault:
        run_sql(vault, "schema/macros")
        return vault.execute(
            "select count(*) from (select person_id, cpr from vault.identity "
            "order by person_id limit $n) "
            "where pseudonym(cpr, $ipad, $opad) <> person_id",
            {"n": VAULT_SAMPLE, **key.sql_params()}
        ).fetchall()[0][0]
