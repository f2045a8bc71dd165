"""Inline SVG charts for the HTML reports: no JavaScript, no external files, prints on A4.

A GP reads a patient's LDL history at a glance: measured values (filled dots, joined),
estimated untreated values where the patient was on treatment (open dots) and the flag
limit for the patient's age (dashed line). Markup is built with escaped text only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH, HEIGHT = 300, 130
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 8, 30


@dataclass(frozen=True)
class LdlPoint:
    sampled_on: date
    ldl: float
    untreated_ldl: float | None
    treated: bool


def _fmt(value: float, decimal_comma: bool) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if decimal_comma else text


def ldl_history_svg(points: list[LdlPoint], *, threshold: float | None, labels: dict[str, str],
                    decimal_comma: bool = False) -> str:
    """The chart as an `<svg>` element. `labels`: title, measured, untreated, threshold
    (with {value}), none: already in the reader's language."""
    if not points:
        return f'<p class="nochart">{escape(labels["none"])}</p>'
    points = sorted(points, key=lambda p: (p.sampled_on, p.ldl))
    values = [p.ldl for p in points] + [p.untreated_ldl for p in points
                                        if p.treated and p.untreated_ldl is not None]
    top = max(values + ([threshold] if threshold else []))
    y_max = max(2.0, float(int(top) + 2))
    first, last = points[0].sampled_on, points[-1].sampled_on
    span = max(1, (last - first).days)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + (plot_w / 2 if first == last else plot_w * (day - first).days / span)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="ldlchart" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(labels["title"])}"><title>{escape(labels["title"])}</title>']
    step = 2 if y_max <= 12 else 4
    for tick in range(0, int(y_max) + 1, step):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#e3e3e3"/>'
                     f'<text x="{LEFT - 4}" y="{y(tick) + 3:.1f}" font-size="9" '
                     f'text-anchor="end">{tick}</text>')
    if threshold:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(threshold):.1f}" '
                     f'y2="{y(threshold):.1f}" stroke="#b00020" stroke-dasharray="4 3"/>'
                     f'<text x="{WIDTH - RIGHT}" y="{y(threshold) - 3:.1f}" font-size="9" '
                     f'text-anchor="end" fill="#b00020">'
                     f'{escape(labels["threshold"].format(value=_fmt(threshold, decimal_comma)))}'
                     '</text>')
    # Each point's position and text once; the labels escaped once: the tips are built
    # of them and of dates and numbers, which have nothing to escape (a national run
    # draws some 44,000 charts).
    measured, untreated = escape(labels["measured"]), escape(labels["untreated"])
    drawn = [(p, f"{x(p.sampled_on):.1f}", f"{y(p.ldl):.1f}", p.sampled_on.isoformat())
             for p in points]
    line = " ".join(f"{cx},{cy}" for _, cx, cy, _ in drawn)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#1f5f8b" stroke-width="1.5"/>')
    for p, cx, cy, day in drawn:
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="#1f5f8b"><title>{day}: '
                     f'{_fmt(p.ldl, decimal_comma)} ({measured})</title></circle>')
        if p.treated and p.untreated_ldl is not None:
            parts.append(f'<circle cx="{cx}" cy="{y(p.untreated_ldl):.1f}" r="3" fill="white" '
                         f'stroke="#1f5f8b"><title>{day}: '
                         f'{_fmt(p.untreated_ldl, decimal_comma)} ({untreated})</title>'
                         '</circle>')
    base = HEIGHT - BOTTOM
    parts.append(f'<text x="{LEFT}" y="{base + 12}" font-size="9">{first.isoformat()}</text>')
    if last != first:
        parts.append(f'<text x="{WIDTH - RIGHT}" y="{base + 12}" font-size="9" '
                     f'text-anchor="end">{last.isoformat()}</text>')
    parts.append(f'<circle cx="{LEFT + 4}" cy="{base + 22}" r="3" fill="#1f5f8b"/>'
                 f'<text x="{LEFT + 10}" y="{base + 25}" font-size="9">'
                 f'{measured}</text>'
                 f'<circle cx="{LEFT + 84}" cy="{base + 22}" r="3" fill="white" '
                 f'stroke="#1f5f8b"/><text x="{LEFT + 90}" y="{base + 25}" font-size="9">'
                 f'{untreated}</text>')
    parts.append("</svg>")
    return "".join(parts)
