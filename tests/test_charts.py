"""The inline SVG LDL chart."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

from fh_screening.charts import LdlPoint, ldl_history_svg

LABELS = {"title": "LDL <history>", "measured": "measured", "untreated": "untreated",
          "threshold": "limit {value}", "none": "no LDL"}


def test_points_threshold_and_escaped_labels():
    points = [LdlPoint(date(2024, 1, 1), 5.0, 7.9, True),
              LdlPoint(date(2020, 6, 1), 6.2, 6.2, False)]
    svg = ldl_history_svg(points, threshold=6.5, labels=LABELS, decimal_comma=True)
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    assert "LDL &lt;history&gt;" in svg
    tips = re.findall(r"<circle[^>]*><title>([^<]+)</title>", svg)
    assert tips == ["2020-06-01: 6,2 (measured)", "2024-01-01: 5,0 (measured)",
                    "2024-01-01: 7,9 (untreated)"]  # sorted by date; untreated only if treated
    assert "limit 6,5" in svg and 'stroke-dasharray="4 3"' in svg
    assert "2020-06-01</text>" in svg and "2024-01-01</text>" in svg


def test_no_history_is_said_not_drawn():
    assert ldl_history_svg([], threshold=4.9, labels=LABELS) == '<p class="nochart">no LDL</p>'
