"""Self-contained HTML list pages (referral triage, cascade lists): one file that opens
offline in any browser, sorts by a click on a column header, filters by text or by a
column's value, and prints on A4 landscape. Styles and the small script are inline; the
page's content-security policy forbids loading anything from elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from fh_screening.i18n import Translator


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


def _text(name: str, dtype: pl.DataType) -> pl.Expr:
    """`cell_text` as a polars expression (the same text for every type a list uses)."""
    c = pl.col(name)
    if dtype == pl.Boolean:
        text = pl.when(c).then(pl.lit("yes")).otherwise(pl.lit("no"))
    elif isinstance(dtype, pl.List):
        text = c.list.eval(pl.element().cast(pl.String)).list.join("; ")
    elif dtype == pl.Date:
        text = c.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        text = c.dt.strftime("%Y-%m-%dT%H:%M:%S")
    else:
        text = c.cast(pl.String)  # floats as rounded in SQL: 4.0 stays "4.0"
    return pl.when(c.is_null()).then(pl.lit("")).otherwise(text)


def _escape(text: pl.Expr) -> pl.Expr:
    """HTML-escape as markupsafe does (& < > " ')."""
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"),
                        ("'", "&#39;")):
        text = text.str.replace_all(raw, entity, literal=True)
    return text


def _rows_html(frame: pl.DataFrame, columns: list[Col], group_column: str | None,
               highlight: tuple[str, ...] | None) -> str:
    """The table body, built column-wise by polars: a national cascade list has tens of
    thousands of rows, too many for a template loop per cell."""
    if frame.height == 0:
        return ""
    texts = {n: _escape(_text(n, frame.schema[n])) for c in columns for n in (c.name, *c.detail)}
    cells = []
    for c in columns:
        css = (' class="num"' if frame.schema[c.name].is_numeric() else ' class="wide"'
               if c.wide else ' class="nowrap"' if c.nowrap else "")
        text = texts[c.name]
        shown = (pl.concat_str([pl.lit('<a href="'), text, pl.lit('">'),
                                text.str.extract(r"([^/]*)$", 1), pl.lit("</a>")])
                 if c.link else text)
        if c.detail:
            parts = pl.concat_list([texts[d] for d in c.detail]).list.eval(
                pl.element().filter(pl.element() != "")).list.join(" · ")
            shown = pl.concat_str([shown, pl.when(parts != "").then(pl.concat_str(
                [pl.lit('<div class="detail">'), parts, pl.lit("</div>")])).otherwise(pl.lit(""))])
        cells.append(pl.concat_str([pl.lit('<td data-sort="'), text, pl.lit(f'"{css}>'), shown,
                                    pl.lit("</td>")]))
    classes = []
    if highlight:
        classes.append(pl.when(pl.col(highlight[0]).is_in(list(highlight[1:])))
                       .then(pl.lit("hi")))
    if group_column:
        changed = pl.col(group_column).ne_missing(pl.col(group_column).shift(1))
        classes.append(pl.when(changed & (pl.int_range(pl.len()) > 0))
                       .then(pl.lit("group-start")))
    css = (pl.concat_list(classes).list.drop_nulls().list.join(" ") if classes
           else pl.lit(""))
    row = pl.concat_str([
        pl.lit('<tr data-order="'), pl.int_range(pl.len()).cast(pl.String), pl.lit('"'),
        pl.when(css != "").then(pl.concat_str([pl.lit(' class="'), css, pl.lit('"')]))
        .otherwise(pl.lit("")),
        pl.lit(">"), *cells, pl.lit("</tr>")])
    return "\n  ".join(frame.select(row.alias("row"))["row"].to_list())


def render_table_page(frame: pl.DataFrame, columns: list[Col], *, title: str, meta: list[str],
                      note: str, filter_columns: tuple[str, ...] = (),
                      group_column: str | None = None,
                      highlight: tuple[str, ...] | None = None,
                      empty: str | None = None, t: Translator | None = None) -> str:
    """The frame as a sortable, filterable table page. `filter_columns` (shown columns)
    get a drop-down of their values; a change of `group_column` draws a rule between rows
    (families); `highlight` = (column, value, ...) shades rows holding one of the values
    (urgent and high priority). The page's own controls follow the list's language `t`
    (a Danish clinic got English "Filter", "all" and "12 of 12 rows" beside Danish columns)."""
    t = t or Translator("en")
    ui = {"lang": t.lang, **{k: t(f"table.{k}") for k in ("filter", "any_text", "all", "of",
                                                          "rows")}}
    shown = [{"label": c.label, "numeric": frame.schema[c.name].is_numeric(), "wide": c.wide,
              "nowrap": c.nowrap} for c in columns]
    names = [c.name for c in columns]
    filters = [{"label": columns[names.index(name)].label, "index": names.index(name),
                "options": sorted({cell_text(v) for v in frame[name].unique().to_list()}
                                  - {""})}
               for name in filter_columns if name in names]
    return template_env().get_template("table_page.html.j2").render(
        title=title, meta=meta, note=note, columns=shown,
        rows_html=Markup(_rows_html(frame, columns, group_column, highlight)),
        row_count=frame.height, filters=filters, empty=empty or t("table.empty"), ui=ui)
