"""Pseudonymisation of CPR numbers and the identity vault.

The store only ever sees `person_id`, a keyed HMAC-SHA256 of the CPR number (64 bits of it
as an integer, in [2^62, 2^63): see `pseudonym`). The key lives
outside the store (environment variable or a key file readable by its owner only), so a
copy of the store alone cannot be re-identified by hashing every possible CPR number,
which a plain hash would allow (there are only about 10^10 of them).

The identity map (person_id -> CPR) lives in a separate vault database and is attached
only when a list for clinicians is written (`reidentify`): re-identification is explicit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

KEY_ENV = "FH_PSEUDONYM_KEY"
_BLOCK = 64  # SHA-256 block size, RFC 2104
KEY_CHECK_TEXT = b"fh-screening pseudonym key check v1"


# Every pseudonym is at least 2^62 (bit 62 set, see PseudonymKey.pseudonym).
PSEUDONYM_FLOOR = 1 << 62


class PseudonymKeyError(RuntimeError):
    """The pseudonym key is missing or malformed."""


class VaultError(RuntimeError):
    """The identity vault is missing, unreadable or does not belong to the store."""


def vault_unreadable(vault_path: Path, exc: BaseException) -> VaultError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return VaultError(
        f"the identity vault {vault_path} cannot be read ({first[:200]}): restore the "
        "vault/ folder from the workspace's backup; nothing was changed")


class PseudonymCollision(RuntimeError):
    """Two different CPR numbers have the same pseudonym under this key (62 bits: about
    4 chances in a million for 6 million people). Merging them would mix two patients'
    data, so the ingest stops; a new key (and a fresh workspace) resolves it."""


@dataclass(frozen=True, repr=False)
class PseudonymKey:
    """A 32-byte HMAC key. repr() never shows it, so it cannot leak into logs.
    `origin` says where it came from (for messages; never the key itself)."""

    key: bytes
    origin: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return "PseudonymKey(<hidden>)"

    @property
    def ipad(self) -> bytes:
        return bytes(b ^ 0x36 for b in self.key.ljust(_BLOCK, b"\0"))

    @property
    def opad(self) -> bytes:
        return bytes(b ^ 0x5C for b in self.key.ljust(_BLOCK, b"\0"))

    def sql_params(self) -> dict[str, bytes]:
        """Named parameters for the `pseudonym(d, $ipad, $opad)` SQL macro."""
        return {"ipad": self.ipad, "opad": self.opad}

    def pseudonym(self, cpr: str) -> int:
        """Python twin of the SQL macro, for tests and for mapping a truth table.

        An integer, not hex text: every national join and group hashes this key, and a
        64-bit integer is two to five times faster there than 32 characters
        (docs/scale.md). 62 bits of the HMAC with bit 62 set keep every pseudonym in
        [2^62, 2^63), apart from any CPR number read as a number."""
        digits = cpr.strip().replace("-", "")
        mac = hmac.new(self.key, digits.encode(), hashlib.sha256).digest()
        return (int.from_bytes(mac[:8], "big") >> 2) | PSEUDONYM_FLOOR

    def file_label(self, path: Path) -> str:
        """The path under which a file is recorded: any CPR-shaped number in it (a
        per-patient file name) replaced by `<cpr-` + 10 hex digits of a keyed HMAC `>`,
        which tells files apart without naming the person (nor their pseudonym)."""
        def token(match: re.Match[str]) -> str:
            digits = match.group(0).replace("-", "")
            mac = hmac.new(self.key, b"file name\0" + digits.encode(), hashlib.sha256)
            return f"<cpr-{mac.hexdigest()[:10]}>"

        return CPR_SHAPED.sub(token, str(path))

    def fingerprint(self) -> str:
        """What the store records to recognise its key again: an HMAC of a fixed text, so
        it says nothing about the key (or any pseudonym) but differs for every other key."""
        return hmac.new(self.key, KEY_CHECK_TEXT, hashlib.sha256).hexdigest()[:32]


def key_help(key_file: Path) -> str:
    """How an operator supplies the key (every key error ends with it)."""
    return (f"set ${KEY_ENV} to the workspace's key (64 hex characters) or put it in "
            f"{key_file} (mode 0600); docs/operations.md, 'The pseudonym key'")


def _parse_key(text: str, origin: str) -> PseudonymKey:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as exc:
        raise PseudonymKeyError(f"pseudonym key from {origin} is not hex") from exc
    if len(key) != 32:
        raise PseudonymKeyError(f"pseudonym key from {origin} must be 32 bytes (64 hex characters)")
    return PseudonymKey(key, origin)


def load_key(key_file: Path, *, create_demo_key: bool = False) -> PseudonymKey:
    """The key from $FH_PSEUDONYM_KEY, else from key_file.

    With create_demo_key, a missing key file is created with a fresh random key (mode 0600)
    so that the demo runs on a fresh machine; production sets the variable or ships the file.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return _parse_key(env, f"${KEY_ENV}")
    if key_file.exists():
        return _parse_key(key_file.read_text(), str(key_file))
    if not create_demo_key:
        raise PseudonymKeyError(f"no pseudonym key: {key_help(key_file)}")
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    log.warning("generated a demo pseudonym key at %s (keep it; losing it breaks linkage)",
                key_file)
    return _parse_key(key_file.read_text(), str(key_file))


VAULT_ALIAS = "vault"
CPR_SHAPED = re.compile(r"[0-9]{6}-?[0-9]{4}")


def redact_cpr(text: str) -> str:
    """`text` with every CPR-shaped number replaced by '<cpr>' (messages, column names):
    the SQL twin is the `redact_cpr` macro."""
    return CPR_SHAPED.sub("<cpr>", text)


def attach_vault(con: duckdb.DuckDBPyConnection, vault_path: Path) -> None:
    """Attach the identity vault under the alias `vault` (created on first use)."""
    vault_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    con.execute(f"attach if not exists '{_sql_path(vault_path)}' as {VAULT_ALIAS}")
    os.chmod(vault_path, 0o600)  # CPR numbers: the owner only, whatever the umask
    # One row per person_id, kept by `add_identities` (an index would cost more than the
    # rest of a national patients ingest; vaults made before this have one, harmlessly).
    con.execute(
        f"create table if not exists {VAULT_ALIAS}.identity "
        "(person_id bigint not null, cpr varchar not null)"
    )


def add_identities(con: duckdb.DuckDBPyConnection, pairs: str) -> None:
    """Add the (person_id, cpr) rows of the query `pairs` (our own SQL, never user input)
    that the attached vault does not hold yet.

    Refuses (PseudonymCollision, before anything is added) a pseudonym that stands for
    two CPR numbers, in `pairs` or against the vault: the store would merge two people.
    The message names no CPR number or pseudonym."""
    # One read of the vault: each new pair with the CPR number the vault already holds
    # for its pseudonym (null when the pseudonym is new).
    con.execute("create or replace temp table new_identities as select n.person_id, n.cpr, "  # noqa: S608
                f"v.cpr as known_cpr from (select distinct person_id, cpr from ({pairs})) n "
                f"left join {VAULT_ALIAS}.identity v on v.person_id = n.person_id")
    try:
        clashes = con.execute(
            "select (select count(*) from new_identities where known_cpr <> cpr) + "
            "(select count(*) from (select person_id from new_identities "
            "group by person_id having count(*) > 1))").fetchall()[0][0]
        if clashes:
            raise PseudonymCollision(
                "two different CPR numbers have the same pseudonym under this key; nothing "
                "was added. Create a new pseudonym key and ingest into a fresh workspace "
                "(docs/robustness.md)")
        con.execute(f"insert into {VAULT_ALIAS}.identity select person_id, cpr "  # noqa: S608
                    "from new_identities where known_cpr is null")
    finally:
        con.execute("drop table new_identities")


def attach_vault_read_only(con: duckdb.DuckDBPyConnection, vault_path: Path) -> None:
    """Attach the vault for re-identification; it must exist (made by ingest)."""
    if not vault_path.exists():
        raise VaultError(f"the identity vault {vault_path} is missing: restore the vault/ "
                         "folder from the workspace's backup (or ingest first, in a new "
                         "workspace)")
    con.execute(f"attach '{_sql_path(vault_path)}' as {VAULT_ALIAS} (read_only)")


@contextmanager
def open_vault(vault_path: Path, *, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection of its own (a separate in-memory DuckDB, not the store's) with the
    vault attached as `vault`. CPR numbers read here never enter the store connection's
    buffer pool, whose freed pages DuckDB can write into the store file unzeroed
    (docs/robustness.md, "CPR numbers and the store file")."""
    con = duckdb.connect()
    try:
        try:
            if read_only:
                attach_vault_read_only(con, vault_path)
            else:
                attach_vault(con, vault_path)
            con.execute("select count(*) from vault.identity limit 0").fetchall()
        except duckdb.Error as exc:
            raise vault_unreadable(vault_path, exc) from exc
        yield con
    finally:
        con.close()


def detach_vault(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"detach database if exists {VAULT_ALIAS}")


def _sql_path(path: Path) -> str:
    """A file path as an SQL string literal body. Paths come from our own configuration,
    but a quote would still break the statement, so refuse it rather than escape it."""
    text = str(path)
    if "'" in text:
        raise ValueError(f"path must not contain a quote: {text!r}")
    return text


class Reidentifier:
    """Names the patients of the clinician lists: pseudonym -> CPR number (DDMMYY-SSSS),
    read from the vault on a connection of its own (`open_vault`), so the store
    connection that builds the lists never holds a CPR number. Every listed person must
    have an identity: a missing one means a vault that does not belong to the store."""

    def __init__(self, vault_path: Path) -> None:
        self.vault_path = vault_path
        self._opened = open_vault(vault_path)
        self.con = self._opened.__enter__()

    def __enter__(self) -> Reidentifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._opened.__exit__(None, None, None)

    def add_cpr(self, frame, cpr_column: str, id_column: str):
        """`frame` (polars) with `cpr_column` set from the pseudonyms in `id_column`."""
        import polars as pl

        ids = frame.select(pl.col(id_column).drop_nulls().unique().alias("person_id"))
        self.con.register("listed_ids", ids)
        try:
            found = self.con.sql(
                "select i.person_id, i.cpr[1:6] || '-' || i.cpr[7:10] as cpr "
                "from vault.identity i join listed_ids using (person_id)").pl()
        finally:
            self.con.unregister("listed_ids")
        if found["person_id"].n_unique() != ids.height:
            raise VaultError(
                f"{ids.height - found['person_id'].n_unique()} listed people have no "
                f"identity in the vault {self.vault_path}: it does not belong to this store; "
                "restore the vault/ folder from the workspace's backup")
        return frame.with_columns(pl.col(id_column).replace_strict(
            found["person_id"], found["cpr"], default=None, return_dtype=pl.String)
            .alias(cpr_column))
