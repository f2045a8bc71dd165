"""`fh-screening check`: a dry run of a delivery that shows the mapping, the codes and the
quarantine, and writes nothing (fh_screening/check.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fh_screening import cli
from fh_screening.check import dry_run, format_report
from tests.test_ingest import CHILD, MAN, TODAY, WOMAN, write_syd


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_check_reports_each_file_s_fate_codes_and_reasons(tmp_path):
    folder = write_syd(tmp_path / "syd")
    report = dry_run("syddanmark", folder, today=TODAY)
    files = {f.table: f for f in report.files}
    lab = files["lab_results"]
    # test_ingest's hand-made file: 11 rows, 3 accepted, 8 quarantined (one reason each)
    assert (lab.rows_read, lab.rows_accepted, lab.rows_quarantined) == (11, 3, 8)
    assert lab.reasons["unknown lab code XYZ123"] == 1
    assert lab.reasons["unit mg/L not accepted for ldl"] == 1
    assert lab.reasons["malformed CSV line"] == 1
    assert ("source_unit", "enhed", True) in lab.mapping
    assert ("XYZ123", "-", "mmol/L", "unknown code: quarantined", 1) in report.lab_codes
    assert ("NPU01568", "ldl", "mg/L", "unit not accepted for ldl: quarantined", 1) in \
        report.lab_codes
    assert files["patients"].mapping[1] == ("birth_date", None, False)
    assert report.coded["relations.relation"] == [("barn", "child", 1), ("far", "father", 1),
                                                  ("mor", "mother", 1)]
    text = format_report(report)
    assert "      1  unknown lab code XYZ123" in text
    assert "e.g. row 4, source_code: unknown lab code XYZ123 value {\"analysekode\":\"XYZ123\"}" \
        in text
    for cpr in (MAN, WOMAN, CHILD, MAN.replace("-", "")):
        assert cpr not in text
    assert report.ok


def test_check_writes_nothing(tmp_path, monkeypatch, capsys):
    folder = write_syd(tmp_path / "syd")
    before = snapshot(folder)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    home = tmp_path / "home"
    assert cli.main(["--home", str(home), "check", "--region", "syddanmark",
                     "--extract-dir", str(folder)]) == 0
    assert "lab_results: laboratoriesvar.csv" in capsys.readouterr().out
    assert snapshot(folder) == before
    assert not home.exists()
    assert list(scratch.iterdir()) == []  # the throwaway store and vault are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syd", "tmp"]


def test_check_names_a_missing_column_and_a_refused_file(tmp_path, capsys):
    folder = write_syd(tmp_path / "syd")
    lab = folder / "laboratoriesvar.csv"
    lab.write_bytes(lab.read_bytes().replace(b";enhed", b";unit", 1))
    report = dry_run("syddanmark", folder, today=TODAY)
    files = {f.table: f for f in report.files}
    assert files["lab_results"].mapping[-1] == ("source_unit", "enhed", False)
    assert files["lab_results"].unmapped == ["unit"]
    assert "expects column(s) enhed (source_unit)" in files["lab_results"].refused
    assert not report.ok
    assert cli.main(["--home", str(tmp_path / "h"), "check", "--region", "syddanmark",
                     "--extract-dir", str(folder)]) == 3  # refused input (cli.EXIT_REFUSED)
    assert "source_unit      <- enhed   MISSING from the file" in capsys.readouterr().out
