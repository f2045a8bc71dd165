"""Every failure an operator can meet is a sentence, not a traceback (issue 20, item 5):
the CLI names what happened and what to do, exits 3 (input refused) or 5 (store or
disk; issue 22's exit codes), and leaves the store and the output
folder as they were. (Broken files - compressed, UTF-16, CR line endings, no header - are
kinds of the bad-input corpus, tests/test_bad_inputs.py.)"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from fh_screening import cli, pipeline
from fh_screening.config import SAMPLES_DIR
from fh_screening.store import Workspace, connect
from tests.data.bad_inputs.make_corpus import SYD_BASE, base_files


def small_extract(root: Path, **replace: bytes) -> Path:
    folder = root / "extracts" / "syddanmark"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in {**base_files("syddanmark"), **replace}.items():
        (folder / name).write_bytes(data)
    return root / "extracts"


def run_cli(home: Path, extracts: Path, capsys) -> tuple[int, str]:
    code = cli.main(["--home", str(home), "run", "--no-prefect", "--regions", "syddanmark",
                     "--extract-root", str(extracts), "--run-id", "x"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_patient_of_a_practice_missing_from_the_practices_file_is_listed_unassigned(
        tmp_path):
    """Was: TypeError: '<' not supported between instances of 'NoneType' and 'str'."""
    extracts = tmp_path / "extracts"
    shutil.copytree(SAMPLES_DIR / "midtjylland", extracts / "midtjylland")
    practices = extracts / "midtjylland" / "practices_20260630.parquet"
    pl.read_parquet(practices).filter(pl.col("practice_code") != "MID0014").write_parquet(
        practices)
    result = pipeline.run_screening(Workspace(tmp_path / "home"), ["midtjylland"],
                                    extract_root=extracts, run_id="u")
    assert result["outputs"]["referrals"]["unassigned"] >= 1
    assert (tmp_path / "home" / "output" / "u" / "referrals" / "unassigned.csv").is_file()


def test_every_lab_row_quarantined_says_so_with_the_reasons(tmp_path, capsys):
    """Was: RuntimeError: no lab results in the store ... ingest first."""
    labs = SYD_BASE["laboratoriesvar.csv"].replace(";mmol/L", ";mmol").replace(";mIU/L", ";mIU")
    extracts = small_extract(tmp_path, **{"laboratoriesvar.csv": labs.encode("latin-1")})
    code, err = run_cli(tmp_path / "home", extracts, capsys)
    assert code == 3
    assert "no lab results to screen for syddanmark: all 9 rows of its 1 lab file(s) were " \
           "quarantined (" in err
    assert "x unit mmol not accepted for ldl" in err


def test_a_damaged_store_names_the_backup_to_restore(tmp_path, capsys):
    ws = Workspace(tmp_path / "home")
    ws.home.mkdir()
    ws.store_path.write_bytes(b"this is not a database" * 1000)
    code, err = run_cli(ws.home, small_extract(tmp_path), capsys)
    assert code == 5
    assert f"the store {ws.store_path} cannot be opened" in err
    assert "Restore store.duckdb from the workspace's backup" in err
    assert ws.store_path.read_bytes() == b"this is not a database" * 1000


def test_a_damaged_vault_names_the_backup_to_restore(tmp_path, capsys):
    ws, extracts = Workspace(tmp_path / "home"), small_extract(tmp_path)
    assert run_cli(ws.home, extracts, capsys)[0] == 0
    ws.vault_path.write_bytes(b"\0garbage" * 4096)
    code, err = run_cli(ws.home, extracts, capsys)
    assert code == 5
    assert f"the identity vault {ws.vault_path} cannot be read" in err
    assert "restore the vault/ folder from the workspace's backup" in err


@pytest.mark.parametrize(("failure", "sentence"), [
    (OSError(errno.ENOSPC, "No space left on device", "/w/output/.x.tmp-1/a.csv"),
     "cannot use /w/output/.x.tmp-1/a.csv: the disk is full: free space, then run again"),
    (OSError(errno.EROFS, "Read-only file system", "/w/output"),
     "cannot use /w/output: the disk is read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "/w/output"),
     "cannot use /w/output: permission denied"),
    (duckdb.IOException("Could not write file \"store.duckdb.wal\": No space left on device"),
     "cannot use the workspace: the disk is full"),
], ids=["output-disk-full", "read-only-disk", "permission", "store-disk-full"])
def test_a_full_or_read_only_disk_is_a_sentence_and_nothing_is_half_written(
        tmp_path, capsys, monkeypatch, failure, sentence):
    ws, extracts = Workspace(tmp_path / "home"), small_extract(tmp_path)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(pipeline, "write_reports", fail)
    code, err = run_cli(ws.home, extracts, capsys)
    assert code == 5 and sentence in err, err
    assert "Nothing was half-written" in err
    assert not (ws.output_dir / "x").exists() and not list(ws.output_dir.glob(".x*"))
    con = connect(ws.store_path, read_only=True)
    try:  # the run was not recorded; the referral history is untouched
        assert con.execute("select count(*) from runs").fetchall() == [(0,)]
        assert con.execute("select count(*) from referral_history").fetchall() == [(0,)]
    finally:
        con.close()
