"""Self-contained HTML list pages (referral triage, cascade lists): one file that opens
offline in any browser, sorts by a click on a column header, filters by text or by a
column's value, and prints on A4 landscape. Styles and the small script are inline; the
page's content-security policy forbids loading anything from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape


def template_env() -> Environment:
    """Jinja environment over fh_screening/templates, HTML-escaping by default."""
    return Environment(loader=PackageLoader("fh_screening", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)


@dataclass(frozen=True)
class Col:
    """A shown column: `name` is sorted on; `detail` (another column, or several joined
    by ' · ') is shown in small type below it; `link` makes the value a relative link;
    `wide` gives free text room; `nowrap` keeps an identifier on one line."""

    name: str
    label: str
    detail: tuple[str, ...] = ()
    link: bool = False
    wide: bool = False
    nowrap: bool = False


def cell_text(value: object) -> str:
    """A value as the reader sees it (booleans as yes/no, lists joined)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(value)  # as rounded in SQL: 4.0 stays "4.0"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def render_table_page(frame: pl.DataFrame, columns: list[Col], *, title: str, meta: list[str],
                      note: str, filter_columns: tuple[str, ...] = (),
                      group_column: str | None = None,
                      highlight: tuple[str, object] | None = None,
                      empty: str = "No rows.") -> str:
    """The frame as a sortable, filterable table page. `filter_columns` (shown columns)
    get a drop-down of their values; a change of `group_column` draws a rule between rows
    (families); `highlight` = (column, value) shades matching rows (high priority)."""
    shown = [{"label": c.label, "numeric": frame.schema[c.name].is_numeric(), "wide": c.wide,
              "nowrap": c.nowrap} for c in columns]
    rows = []
    previous: object = object()
    for record in frame.iter_rows(named=True):
        css = []
        if highlight and record.get(highlight[0]) == highlight[1]:
            css.append("hi")
        if group_column:
            if record[group_column] != previous and rows:
                css.append("group-start")
            previous = record[group_column]
        cells = []
        for c in columns:
            detail = " · ".join(t for t in (cell_text(record[d]) for d in c.detail) if t)
            cells.append({"text": cell_text(record[c.name]), "detail": detail, "link": c.link})
        rows.append({"cells": cells, "css": " ".join(css)})
    names = [c.name for c in columns]
    filters = [{"label": columns[names.index(name)].label, "index": names.index(name),
                "options": sorted({cell_text(v) for v in frame[name].to_list()} - {""})}
               for name in filter_columns if name in names]
    return template_env().get_template("table_page.html.j2").render(
        title=title, meta=meta, note=note, columns=shown, rows=rows, filters=filters,
        empty=empty)
