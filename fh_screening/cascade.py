"""Family cascade-testing lists per lipid clinic (CSV, XLSX, HTML), grouped by family,
and a family letter per index case that the index patient can hand to relatives.

Index cases are people with confirmed FH only (sql/outputs/cascade_index.sql: E78.0, a
positive genetic test, or a lipid clinic's return confirming it); people referred but not
confirmed wait as "pending confirmation" (cascade_pending.sql), and no letter is written
for their families. Relatives are listed with their CPR numbers only where the index
patient consented (a return's consent column) to the clinic contacting them; every other
family gets the letter only. Which relatives are known and their priority:
`sql/outputs/cascade_list.sql` (settings in config/thresholds.toml [cascade]). Each
clinic's workbook has three sheets (families with their consent column, relatives with
outcome columns, pending confirmation); family and relative ids are stable across runs
(fh_screening/identifiers.py). The letters carry no personal data: only the clinic (name,
address, phone from config/clinics.toml) and the family id that links back to the
clinic's list, in every catalogue language (the chosen one first).

A clinic's letters are one HTML file (`letters/<clinic>.html`), a family's letter an
anchor in it (`#family-007`) that shows and prints that letter alone (CSS `:target`).
Why not a file per family: a national run has some 13,000 families, and creating that
many files cost 0.6-10 s on the benchmark machine, depending on the state of its file
system, and more on the network shares that output folders are often copied to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from markupsafe import Markup

from fh_screening.background import BackgroundFiles
from fh_screening.html_tables import Col, render_table_page, template_env
from fh_screening.i18n import Translator, languages
from fh_screening.identifiers import with_codes
from fh_screening.lists import (
    FAMILY_RETURNS,
    RELATIVE_RETURNS,
    choice_text,
    clinic,
    localise,
    localise_values,
    validations,
    with_return_columns,
)
from fh_screening.outputs import safe_file_name, write_private
from fh_screening.privacy import Reidentifier
from fh_screening.referrals import public
from fh_screening.sheets import csv_text, xlsx_bytes
from fh_screening.store import query_sql, run_sql

PAGE_COLUMNS = [
    Col("family_id", "family_id", detail=("index_cpr", "index_basis")),
    Col("priority", "priority"),
    Col("relative_cpr", "relative_cpr", detail=("relation", "degree", "relative_ref"),
        nowrap=True),
    Col("age", "age"),
    Col("sex", "sex"),
    Col("gp_practice_id", "gp_practice_id"),
    Col("last_ldl", "last_ldl", detail=("ldl_detail",)),
    Col("treatment", "treatment"),
    Col("already_diagnosed", "already_diagnosed"),
    Col("genetic_test", "genetic_test"),
    Col("already_referred", "already_referred"),
    Col("note", "note", wide=True),
    Col("family_letter", "family_letter", link=True),
]
FAMILY_PAGE_COLUMNS = [
    Col("family_id", "family_id", detail=("index_basis",)),
    Col("index_cpr", "index_cpr", nowrap=True),
    Col("consent_status", "consent_status"),
    Col("first_degree", "first_degree"),
    Col("second_degree", "second_degree"),
    Col("untested_first_degree", "untested_first_degree"),
    Col("family_letter", "family_letter", link=True),
]
FAMILY_COLUMNS = ("family_id", "index_cpr", "index_basis", "index_gp_practice_id",
                  "consent_status", "first_degree", "second_degree", "untested_first_degree",
                  "family_letter")
PENDING_COLUMNS = ("referral_id", "cpr", "age", "sex", "gp_practice_id", "sent_on",
                   "last_answer")
RELATIVE_INTERNAL = ("consent",)


@dataclass
class CascadeOutput:
    per_clinic: dict[str, int]
    letters: int
    files: list[str]
    families: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)


# Stands for the family number in a rendered letter; cannot occur in the letter's text.
FAMILY_PLACEHOLDER = "\x00family\x00"


def letters_file(clinic_id: str) -> str:
    """The clinic's letters file, relative to the cascade folder."""
    return f"letters/{safe_file_name(clinic_id)}.html"


def letter_path(clinic_id: str, family_id: str) -> str:
    """A family's letter, relative to the cascade folder: an anchor in the clinic's file."""
    return f"{letters_file(clinic_id)}#family-{family_id}"


def consent_text(consent: str | None, t: Translator) -> str:
    return t(f"value.consent_{consent or 'unknown'}")


def last_answer_text(row: dict[str, Any], t: Translator) -> str:
    """The clinic's last answer on a pending referral, in words ("" when none)."""
    parts = [choice_text(f, row[f"last_{f}"], t)
             for f in ("contact", "diagnosis", "genetic_test") if row[f"last_{f}"]]
    if row["last_outcome_date"]:
        parts.append(str(row["last_outcome_date"]))
    return ", ".join(parts)


def family_counts(rows: pl.DataFrame) -> pl.DataFrame:
    """Relatives known per index case, by degree, and the untested first-degree ones."""
    return rows.group_by("index_id").agg(
        (pl.col("degree") == "first").sum().alias("first_degree"),
        (pl.col("degree") == "second").sum().alias("second_degree"),
        (pl.col("priority") == 1).sum().alias("untested_first_degree"))


def write_cascade(con: duckdb.DuckDBPyConnection, out: Path, params: dict[str, Any], *,
                  code_version: str, t: Translator, background: BackgroundFiles,
                  reidentify: Reidentifier) -> CascadeOutput:
    run_id, as_of = params["run_id"], params["as_of"]
    run_sql(con, "outputs/cascade_index", params)
    index = con.sql("select * from out_cascade_index order by lipid_clinic_id nulls last, "
                    "person_id").pl()
    index = with_codes(con, index, "family", person="person_id", scope=None,
                       column="family_id", run_id=run_id, as_of=as_of)
    con.register("cascade_family_ids", index.select("person_id", "family_id"))
    try:
        everyone = query_sql(con, "outputs/cascade_list", params).pl()
        age = params["cascade_paediatric_test_by_age"]
        everyone = everyone.with_columns(pl.col("note").replace_strict(
            {c: t(f"lists.note_{c}", age=age) for c in everyone["note"].unique().drop_nulls()},
            default=None, return_dtype=pl.String))
    finally:
        con.unregister("cascade_family_ids")
    pending = query_sql(con, "outputs/cascade_pending", params).pl()
    # Relatives are named (CPR) only where the index patient consented to the clinic
    # contacting them; other families get the letter only.
    relatives = everyone.filter(pl.col("consent") == "yes")
    relatives = with_codes(con, relatives, "relative", person="relative_id",
                           scope="family_id", column="relative_ref", run_id=run_id,
                           as_of=as_of)
    relatives = reidentify.add_cpr(reidentify.add_cpr(relatives, "index_cpr", "index_id"),
                                   "relative_cpr", "relative_id")
    families = reidentify.add_cpr(
        index.rename({"person_id": "index_id", "gp_practice_id": "index_gp_practice_id"})
        .join(family_counts(everyone), on="index_id", how="left", maintain_order="left")
        .with_columns(pl.col("first_degree", "second_degree", "untested_first_degree")
                      .fill_null(0), pl.lit(None, dtype=pl.String).alias("index_cpr")),
        "index_cpr", "index_id")
    pending = reidentify.add_cpr(pending, "cpr", "person_id")
    letter_langs = [Translator(t.lang)] + [Translator(lang) for lang in languages()
                                           if lang != t.lang]
    letter_template = template_env().get_template("family_letter.html.j2")
    letters_page = template_env().get_template("family_letters.html.j2")
    result = CascadeOutput({}, 0, [])
    clinics = sorted({c or "unassigned" for c in families["lipid_clinic_id"].to_list()}
                     | {c or "unassigned" for c in pending["lipid_clinic_id"].to_list()})
    basis = {b: t(f"value.basis_{b}") for b in ("genetic", "diagnosis", "return")}
    for clinic_id in clinics:
        def of_clinic(frame: pl.DataFrame, c: str = clinic_id) -> pl.DataFrame:
            return frame.filter(pl.col("lipid_clinic_id").fill_null("unassigned") == c)

        where = clinic(clinic_id)
        fam = of_clinic(families).with_columns(
            pl.col("index_basis").replace_strict(basis),
            pl.col("consent").map_elements(lambda c: consent_text(c, t), return_dtype=pl.String,
                                           skip_nulls=False).alias("consent_status"),
            pl.col("family_id").map_elements(lambda f, c=clinic_id: letter_path(c, f),
                                             return_dtype=pl.String).alias("family_letter"))
        fam_rows = with_return_columns(fam.select(FAMILY_COLUMNS), FAMILY_RETURNS)
        rel = of_clinic(relatives).with_columns(
            pl.col("index_basis").replace_strict(basis),
            pl.col("family_id").map_elements(lambda f, c=clinic_id: letter_path(c, f),
                                             return_dtype=pl.String).alias("family_letter"))
        rel_rows = with_return_columns(
            public(rel).drop(RELATIVE_INTERNAL).select("family_id", "relative_ref",
                                                       pl.exclude("family_id", "relative_ref")),
            RELATIVE_RETURNS)
        pend = of_clinic(pending)
        pend_rows = pend.with_columns(pl.Series(
            "last_answer", [last_answer_text(r, t) for r in pend.iter_rows(named=True)],
            dtype=pl.String)).select(PENDING_COLUMNS)
        stem = f"cascade/{safe_file_name(clinic_id)}"
        title = t("lists.cascade_title", clinic=where.name)
        write_private(out / f"{stem}.csv", csv_text(localise(rel_rows, t), t.lang))
        write_private(out / f"{stem}-families.csv", csv_text(localise(fam_rows, t), t.lang))
        write_private(out / f"{stem}-pending.csv", csv_text(localise(pend_rows, t), t.lang))
        background.add(out / f"{stem}.xlsx", xlsx_bytes, {
            t("lists.families_sheet"): localise(fam_rows, t),
            t("lists.relatives_sheet"): localise(rel_rows, t),
            t("lists.pending_sheet"): localise(pend_rows, t)},
            as_of=as_of, title=title,
            validations=validations(t, tuple(dict.fromkeys(RELATIVE_RETURNS + FAMILY_RETURNS))),
            comment=t("returns.help"))
        meta = [where.contact(t), t("lists.meta_run", run_id=run_id, as_of=as_of),
                t("lists.meta_cascade", families=fam.height,
                  listed=int((fam["consent"] == "yes").sum()), relatives=rel.height,
                  pending=pend.height)]
        page = localise_values(rel, t).with_columns(
            pl.format("{}, {}", "last_ldl_date", "last_untreated_ldl").alias("ldl_detail"))
        label = lambda cols: [Col(c.name, t(f"col.{c.label}"), c.detail, c.link, c.wide,  # noqa: E731
                                  c.nowrap) for c in cols]
        note = (t("lists.cascade_note", age=params["cascade_paediatric_test_by_age"],
                  version=code_version) + " " + t("returns.help"))
        write_private(out / f"{stem}.html", render_table_page(
            page, label(PAGE_COLUMNS), title=title, meta=meta, note=note,
            filter_columns=("priority", "sex", "already_referred", "genetic_test"),
            group_column="family_id", highlight=("priority", 1), t=t,
            empty=t("lists.cascade_empty")))
        write_private(out / f"{stem}-families.html", render_table_page(
            fam, label(FAMILY_PAGE_COLUMNS), title=title, meta=meta, note=note,
            filter_columns=("consent_status",), t=t))
        result.files += [f"{stem}.csv", f"{stem}-families.csv", f"{stem}-pending.csv",
                         f"{stem}.xlsx", f"{stem}.html", f"{stem}-families.html"]
        numbers = fam["family_id"].to_list()
        if numbers:
            # The letter holds no personal data and differs between a clinic's families
            # only in the family id: render it once per clinic and fill in each id.
            letter = letter_template.render(
                letters=[{"t": lt} for lt in letter_langs], clinic=where.name,
                contact=where.contact, family=FAMILY_PLACEHOLDER,
                paediatric_age=params["cascade_paediatric_test_by_age"])
            name = f"cascade/{letters_file(clinic_id)}"
            write_private(out / name, letters_page.render(
                t=letter_langs[0], clinic=where.name, families=numbers,
                letters=Markup("".join(letter.replace(FAMILY_PLACEHOLDER, n)
                                       for n in numbers))))
            result.files.append(name)
        result.letters += len(numbers)
        result.per_clinic[clinic_id] = rel.height
        result.families[clinic_id] = fam.height
        result.pending[clinic_id] = pend.height
    return result
