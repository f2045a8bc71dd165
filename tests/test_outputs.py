"""Atomic run folders and safe names."""

from __future__ import annotations

import stat

import pytest

from fh_screening.outputs import atomic_run_dir, check_run_id, safe_file_name, write_private


def test_run_folder_appears_only_when_complete(tmp_path):
    with atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "a" / "x.csv", "1\n")
        assert not (tmp_path / "r1").exists()
    assert (tmp_path / "r1" / "a" / "x.csv").read_text() == "1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]


def test_failed_run_leaves_no_folder_and_keeps_the_previous_one(tmp_path):
    with atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "x.csv", "old\n")
    with pytest.raises(RuntimeError), atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "x.csv", "new\n")
        raise RuntimeError("crash while writing")
    assert (tmp_path / "r1" / "x.csv").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r1"]


def test_rerun_replaces_the_folder_whole(tmp_path):
    with atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "gone.csv", "x")
    with atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "kept.csv", "y")
    assert sorted(p.name for p in (tmp_path / "r1").iterdir()) == ["kept.csv"]


def test_files_and_folders_are_private(tmp_path):
    with atomic_run_dir(tmp_path, "r1") as tmp:
        write_private(tmp / "sub" / "x.csv", "1")
    assert stat.S_IMODE((tmp_path / "r1" / "sub" / "x.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "r1" / "sub").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "r1").stat().st_mode) == 0o700


@pytest.mark.parametrize("bad", ["../x", "a/b", ".hidden", "", "a..b", "x" * 101])
def test_run_ids_cannot_escape_the_output_folder(bad):
    with pytest.raises(ValueError, match="invalid run id"):
        check_run_id(bad)


def test_safe_file_names():
    assert safe_file_name("SYD-LK1") == "SYD-LK1"
    assert safe_file_name("../../etc/passwd") == "etc_passwd"
    assert safe_file_name("Lægerne Østergade") == "L_gerne_stergade"
    assert safe_file_name("..") == "unnamed"
