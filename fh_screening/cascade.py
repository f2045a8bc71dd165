"""Family cascade-testing lists per lipid clinic (CSV, XLSX, HTML), grouped by family,
and a family letter per index case that the index patient can hand to relatives.

Who is an index case, which relatives are listed and in which priority is decided in
`sql/outputs/cascade_list.sql` (settings in config/thresholds.toml [cascade]). The
letters carry no personal data: only the clinic and a family number that links back to
the clinic's list, in every catalogue language (the chosen one first).

A clinic's letters are one HTML file (`letters/<clinic>.html`), a family's letter an
anchor in it (`#family-007`) that shows and prints that letter alone (CSS `:target`).
Why not a file per family: a national run has some 13,000 families, and creating that
many files cost 0.6-10 s on the benchmark machine, depending on the state of its file
system, and more on the network shares that output folders are often copied to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from markupsafe import Markup

from fh_screening.background import BackgroundFiles
from fh_screening.html_tables import Col, render_table_page, template_env
from fh_screening.i18n import Translator, languages
from fh_screening.outputs import safe_file_name, write_private
from fh_screening.privacy import Reidentifier
from fh_screening.referrals import public
from fh_screening.sheets import csv_text, xlsx_bytes
from fh_screening.store import query_sql

PAGE_COLUMNS = [
    Col("family", "family", detail=("index_cpr", "index_basis")),
    Col("priority", "priority"),
    Col("relative_cpr", "relative CPR", detail=("relation", "degree_text"), nowrap=True),
    Col("age", "age"),
    Col("sex", "sex"),
    Col("gp_practice_id", "GP practice"),
    Col("last_ldl", "last LDL", detail=("ldl_detail",)),
    Col("treatment", "treatment"),
    Col("already_diagnosed", "diagnosed"),
    Col("genetic_test", "genetic test"),
    Col("already_referred", "referred"),
    Col("note", "note", wide=True),
    Col("family_letter", "family letter", link=True),
]


@dataclass
class CascadeOutput:
    per_clinic: dict[str, int]
    letters: int
    files: list[str]


# Stands for the family number in a rendered letter; cannot occur in the letter's text.
FAMILY_PLACEHOLDER = "\x00family\x00"


def letters_file(clinic: str) -> str:
    """The clinic's letters file, relative to the cascade folder."""
    return f"letters/{safe_file_name(clinic)}.html"


def letter_path(clinic: str, family: int) -> str:
    """A family's letter, relative to the cascade folder: an anchor in the clinic's file."""
    return f"{letters_file(clinic)}#family-{family:03d}"


def write_cascade(con: duckdb.DuckDBPyConnection, out: Path, params: dict[str, Any], *,
                  code_version: str, t: Translator, background: BackgroundFiles,
                  reidentify: Reidentifier) -> CascadeOutput:
    run_id, as_of = params["run_id"], params["as_of"]
    cascade = reidentify.add_cpr(reidentify.add_cpr(
        query_sql(con, "outputs/cascade_list", params).pl(), "index_cpr", "index_id"),
        "relative_cpr", "relative_id")
    letter_langs = [Translator(t.lang)] + [Translator(lang) for lang in languages()
                                           if lang != t.lang]
    letter_template = template_env().get_template("family_letter.html.j2")
    letters_page = template_env().get_template("family_letters.html.j2")
    result = CascadeOutput({}, 0, [])
    for (clinic,), frame in cascade.group_by("lipid_clinic_id", maintain_order=True):
        clinic = clinic or "unassigned"
        rows = public(frame).with_columns(
            pl.col("family").map_elements(lambda f, c=clinic: letter_path(c, f),
                                          return_dtype=pl.String).alias("family_letter"))
        stem = f"cascade/{safe_file_name(clinic)}"
        title = f"FH cascade testing for lipid clinic {clinic}"
        numbers = [f"{family:03d}" for family in sorted(rows["family"].unique().to_list())]
        families = len(numbers)
        write_private(out / f"{stem}.csv", csv_text(rows))
        background.add(out / f"{stem}.xlsx", xlsx_bytes, {"cascade": rows}, as_of=as_of,
                       title=title)
        page = rows.with_columns(
            pl.format("{}-degree", "degree").alias("degree_text"),
            pl.format("{}, untreated estimate {}", "last_ldl_date", "last_untreated_ldl")
            .alias("ldl_detail"))
        write_private(out / f"{stem}.html", render_table_page(
            page, PAGE_COLUMNS, title=title,
            meta=[f"screening run {run_id}", f"data up to {as_of}",
                  f"{families} famil{'y' if families == 1 else 'ies'}, "
                  f"{rows.height} relative(s)"],
            note=("Grouped by family (index case). Priority 1: untested first-degree "
                  "relatives; 2: untested second-degree; 3: already referred; 4: already "
                  f"diagnosed or tested. Children are to be tested by age "
                  f"{params['cascade_paediatric_test_by_age']} (NICE CG71). "
                  f"fh-screening {code_version}."),
            filter_columns=("priority", "sex", "already_referred", "genetic_test"),
            group_column="family", highlight=("priority", 1)))
        result.files += [f"{stem}.csv", f"{stem}.xlsx", f"{stem}.html"]
        # The letter holds no personal data and differs between a clinic's families only
        # in the family number: render it once per clinic and put each number in the
        # placeholder.
        letter = letter_template.render(
            letters=[{"t": lt} for lt in letter_langs], clinic=clinic,
            family=FAMILY_PLACEHOLDER,
            paediatric_age=params["cascade_paediatric_test_by_age"])
        name = f"cascade/{letters_file(clinic)}"
        write_private(out / name, letters_page.render(
            t=letter_langs[0], clinic=clinic, families=numbers,
            letters=Markup("".join(letter.replace(FAMILY_PLACEHOLDER, n) for n in numbers))))
        result.files.append(name)
        result.letters += len(numbers)
        result.per_clinic[clinic] = frame.height
    return result
