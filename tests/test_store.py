"""The store's format guard (fh_screening/store.py)."""

from __future__ import annotations

import duckdb
import pytest

from fh_screening.store import StoreFormatError, connect


def test_a_store_with_text_pseudonyms_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "store.duckdb"
    old = duckdb.connect(str(path))
    old.execute("create table patients (person_id varchar not null, birth_date date)")
    old.execute("insert into patients values ('648db927091e8c564a196ff385c26f23', "
                "date '1990-01-01')")
    old.close()
    with pytest.raises(StoreFormatError, match="earlier version .*new workspace") as err:
        connect(path)
    assert str(path) in str(err.value)
    again = duckdb.connect(str(path))  # refused, not changed, and not left locked
    assert again.execute("select person_id from patients").fetchall() == [
        ("648db927091e8c564a196ff385c26f23",)]
    again.close()


def test_a_new_store_has_integer_person_keys(tmp_path):
    con = connect(tmp_path / "store.duckdb")
    types = dict(con.execute(
        "select table_name || '.' || column_name, data_type from duckdb_columns() "
        "where column_name in ('person_id', 'relative_id')").fetchall())
    con.close()
    assert types["patients.person_id"] == types["relations.relative_id"] == "BIGINT"
    assert set(types.values()) == {"BIGINT"}
    connect(tmp_path / "store.duckdb").close()  # and it opens again


def test_an_older_stores_quarantine_loses_its_cpr_numbers_at_the_next_connection(tmp_path):
    """Issue 20: before, quarantine.raw kept whole source rows (a requisitioner's CPR
    number in an unmapped column); the schema step removes such values."""
    con = connect(tmp_path / "store.duckdb")
    con.execute("insert into quarantine values ('f.csv', 'lab_results', 3, 'source_code', "
                "'unknown lab code X', null, '{\"rekvirent\": \"241170-2221\"}', 'syd'), "
                "('f.csv', 'lab_results', 4, 'source_code', 'unknown lab code Y', null, "
                "'{\"analysekode\": \"Y\"}', 'syd')")
    con.close()
    con = connect(tmp_path / "store.duckdb")
    try:
        assert con.execute("select row_number, raw from quarantine order by 1").fetchall() == [
            (3, None), (4, '{"analysekode": "Y"}')]
    finally:
        con.close()
