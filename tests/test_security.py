"""Privacy and security: after a real demo run (the CLI, through Prefect) no CPR number is
in its logs, the Prefect database (logs, artifacts, results) or the pseudonymised store,
and the key is nowhere but its file; outputs are the owner's only; names and paths from
parameters cannot leave their folders; user values never become SQL text."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from fh_screening.config import SAMPLES_DIR, ConfigError, list_regions, load_region
from fh_screening.ingest import IngestError, ingest_region, region_files
from fh_screening.pipeline import default_extract_dir, ingest_step, output_step, run_screening
from fh_screening.privacy import attach_vault
from fh_screening.store import Workspace, connect
from tests.conftest import TEST_KEY
from tests.data.bad_inputs.make_corpus import KINDS, SYD_BASE, assemble

CPR_LIKE = re.compile(rb"\d{6}-?\d{4}")


def sample_cprs() -> set[bytes]:
    """Every value of every CPR column in the shipped extracts (valid or not), with and
    without the dash: what must not leak."""
    con = duckdb.connect()
    values: set[str] = set()
    for region in list_regions():  # every shipped region
        dialect = load_region(region)
        for table, path in region_files(dialect, SAMPLES_DIR / region):
            cols = [dialect.columns.get(table, {}).get(c) for c in ("cpr", "relative_cpr")]
            reader = (f"read_csv($p, delim='{dialect.delimiter}', encoding="
                      f"'{dialect.encoding}', all_varchar=true)"
                      if dialect.format == "csv" else "read_parquet($p)")
            for col in filter(None, cols):
                q = '"' + col.replace('"', '""') + '"'
                values |= {v for (v,) in con.execute(
                    f"select distinct {q}::varchar from {reader} where {q} is not null",
                    {"p": str(path)}).fetchall()}
    con.close()
    out = set()
    for v in values:
        v = v.strip()
        if len(v) >= 10:
            out |= {v.encode(), v.replace("-", "").encode()}
    return out


def leaks(data: bytes, cprs: set[bytes]) -> set[bytes]:
    return {m for m in CPR_LIKE.findall(data) if m in cprs}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`fh-screening demo` in its own process, with its own Prefect home and API."""
    home = tmp_path_factory.mktemp("demo-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FH_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               GX_ANALYTICS_ENABLED="false", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
               PREFECT_HOME=str(home / "prefect"), PREFECT_LOGGING_LEVEL="DEBUG")
    proc = subprocess.run([sys.executable, "-m", "fh_screening.cli", "--home", str(home), "-v",
                           "demo"], env=env, capture_output=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Workspace(home), proc


def readable_bytes(path: Path) -> bytes:
    """A file's bytes as a reader sees them: an XLSX is a ZIP of deflated XML, so its
    members are inflated first (a byte scan of the ZIP itself would see nothing)."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as z:
            return b"".join(z.read(name) for name in z.namelist())
    return path.read_bytes()


def files_under(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()]


def test_no_cpr_number_in_logs_prefect_or_store_after_a_demo_run(demo):
    ws, proc = demo
    cprs = sample_cprs()
    assert len(cprs) > 10_000
    assert b"INFO" in proc.stderr and b"quarantined" in proc.stdout + proc.stderr
    assert not leaks(proc.stdout, cprs) and not leaks(proc.stderr, cprs)
    prefect_files = files_under(ws.home / "prefect")
    prefect_bytes = b"".join(p.read_bytes() for p in prefect_files)
    # Prefect's database really holds the run's logs and its summary artifact ...
    assert b"laboratoriesvar_20260630.csv: " in prefect_bytes  # an ingest progress log line
    assert b"# fh-screening run `2026-06-30_national`" in prefect_bytes  # the artifact
    # ... and no CPR number.
    for path in prefect_files:
        assert not leaks(path.read_bytes(), cprs), path
    # The store, value by value (DuckDB compresses, so bytes alone could hide a value),
    # and byte by byte.
    con = connect(ws.store_path, read_only=True)
    try:
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            text = "\n".join(str(r) for r in con.execute(f"select * from {table}").fetchall())
            assert not leaks(text.encode(), cprs), table
    finally:
        con.close()
    assert not leaks(ws.store_path.read_bytes(), cprs)
    summary = ws.output_dir / "2026-06-30_national" / "run_summary.json"
    assert not leaks(summary.read_bytes(), cprs)


def test_the_scan_would_see_a_leak(demo):
    """Positive controls: the vault and the clinicians' lists do hold CPR numbers, and the
    same scan finds them."""
    ws, _ = demo
    cprs = sample_cprs()
    listed = files_under(ws.output_dir / "2026-06-30_national" / "referrals")
    # the backlog (people waiting beyond a clinic's capacity) is kept without identifiers
    backlog = [p for p in listed if "backlog" in p.parts]
    referrals = [p for p in listed if "backlog" not in p.parts]
    assert {p.suffix for p in referrals} == {".csv", ".html", ".xlsx"}
    assert all(leaks(readable_bytes(p), cprs) for p in referrals)
    assert not any(leaks(readable_bytes(p), cprs) for p in backlog)
    con = duckdb.connect(str(ws.vault_path), read_only=True)
    text = str(con.execute("select cpr from identity limit 100").fetchall()).encode()
    con.close()
    assert len(leaks(text, cprs)) == 100


def test_the_pseudonym_key_is_only_in_its_file(demo):
    ws, proc = demo
    key_hex = ws.key_path.read_text().strip()
    key = bytes.fromhex(key_hex)
    needles = [key_hex.encode(), key_hex.upper().encode(), key]
    paths = [ws.store_path, *files_under(ws.output_dir), *files_under(ws.home / "prefect"),
             ws.vault_path]
    for path in paths:
        data = path.read_bytes()
        assert not any(n in data for n in needles), path
    assert not any(n in proc.stdout + proc.stderr for n in needles)


def test_outputs_store_and_vault_are_the_owners_only(demo):
    ws, _ = demo
    out = ws.output_dir / "2026-06-30_national"
    files = files_under(out)
    assert len(files) > 30
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in [ws.output_dir, out, *(p for p in out.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in (ws.store_path, ws.vault_path, ws.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(ws.vault_path.parent.stat().st_mode) == 0o700


# --- names and paths from parameters ----------------------------------------------------

@pytest.mark.parametrize("region", ["../syddanmark", "syddanmark/..", "/etc", "a b", "",
                                    "SYDDANMARK", "x" * 41, "syd\x00"])
def test_region_names_cannot_name_a_path(region, tmp_path):
    ws = Workspace(tmp_path / "home")
    with pytest.raises(ConfigError, match="invalid region name"):
        ingest_step(ws, region)
    with pytest.raises(ConfigError, match="invalid region name"):
        default_extract_dir(region)
    with pytest.raises(ConfigError, match="invalid region name"):
        run_screening(ws, [region])
    assert not ws.home.exists()  # refused before anything was created


@pytest.mark.parametrize("run_id", ["../x", "/tmp/x", "a/../../b", ".hidden", "x/y"])
def test_run_ids_cannot_write_outside_the_output_folder(run_id, tmp_path):
    ws = Workspace(tmp_path / "home")
    with pytest.raises(ValueError, match="invalid run id"):
        output_step(ws, run_id, None, ["syddanmark"], {})
    assert not ws.home.exists()


def test_extract_files_outside_the_extract_folder_are_refused(tmp_path):
    folder = assemble(next(k for k in KINDS if k.name == "header_only"), tmp_path / "syd")
    secret = tmp_path / "secret.csv"
    secret.write_text("cpr;diagnosekode;diagnosedato\n")
    (folder / "diagnoser_link.csv").symlink_to(secret)
    with pytest.raises(IngestError, match=r"diagnoser_link\.csv: outside the extract folder"):
        region_files(load_region("syddanmark"), folder)
    escaping = load_region("syddanmark")
    escaping.files["diagnoses"] = "../*.csv"
    (folder / "diagnoser_link.csv").unlink()
    with pytest.raises(IngestError, match="outside the extract folder"):
        region_files(escaping, folder)


def test_a_vault_path_that_could_break_out_of_sql_is_refused(tmp_path):
    con = duckdb.connect()
    with pytest.raises(ValueError, match="must not contain a quote"):
        attach_vault(con, tmp_path / "x' as v; detach y; --" / "identity.duckdb")
    con.close()


# --- user values never become SQL text ---------------------------------------------------

class RecordingConnection:
    """A DuckDB connection that remembers the text of every statement it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con, self.statements = con, []

    def execute(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return self._con.executemany(sql, *args, **kwargs)

    def sql(self, sql, *args, **kwargs):
        self.statements.append(sql)
        return self._con.sql(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


HOSTILE_VALUES = ["'; drop table lab_results; --", "x' or '1'='1", "$ipad' --", "?, ?); --",
                  "0101901235'); --", "{'field': 'cpr'}", "\\'; select 1; --"]


def test_values_from_files_never_become_sql_text(tmp_path):
    """Every cell of a hostile extract reaches DuckDB as a value (read by its CSV reader or
    bound as a parameter), never inside the text of a statement."""
    lab = SYD_BASE["laboratoriesvar.csv"] + "".join(
        f"010190-1235;01-03-2024 08:15;{v};{v};{v}\n" for v in HOSTILE_VALUES)
    relations = SYD_BASE["slaegtskab.csv"] + "".join(
        f"150285-4562;120315-4001;{v}\n" for v in HOSTILE_VALUES)
    folder = tmp_path / "syd"
    folder.mkdir()
    for name, text in {**SYD_BASE, "laboratoriesvar.csv": lab, "slaegtskab.csv": relations
                       }.items():
        (folder / name).write_bytes(text.encode("latin-1"))
    recording = RecordingConnection(connect(tmp_path / "store.duckdb"))
    try:
        result = ingest_region(recording, load_region("syddanmark"), folder, TEST_KEY,
                               vault_path=tmp_path / "vault.duckdb", today=None)
        totals = result.totals()
        assert totals["rows_read"] == totals["rows_accepted"] + totals["rows_quarantined"]
        assert totals["rows_quarantined"] == 2 * len(HOSTILE_VALUES)
        assert recording.execute("select count(*) from lab_results").fetchall() == [(9,)]
        raws = {r for (r,) in recording.execute("select raw from quarantine").fetchall()}
        assert any("x' or '1'='1" in (r or "") for r in raws)  # kept as data, verbatim
    finally:
        recording.close()
    cells = {c for text in SYD_BASE.values() for line in text.splitlines()[1:]
             for c in line.split(";") if len(c) >= 4} | set(HOSTILE_VALUES)
    assert len(recording.statements) > 50
    for statement in recording.statements:
        for cell in cells:
            assert cell not in statement, (cell, statement[:300])
