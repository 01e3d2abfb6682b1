"""The report as one HTML file that works offline: plotly's JavaScript embedded once in the head, every
plot a `<div class="lmrec-plot">` drawn by it, tables as plain HTML, no request to any server.

The browser test (`tests/report/test_report_browser.py`) counts the rendered plots against the
`data-plots` attribute of the body, which says how many the page holds.
"""

from __future__ import annotations

import html
import math
from typing import Any

from lmrec.report.figures import Plot

SECTIONS = {
    "accuracy": "Accuracy and significance",
    "slices": "Accuracy by user activity and target popularity",
    "exposure": "Popularity bias, coverage, personalization, calibration",
    "training": "Training curves",
    "hybrids": "Hybrids",
    "simulation": "Simulation: metrics over rounds",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 0 24px 48px; color: #222; }
h1 { margin-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; font-size: 14px; } .note { color: #7a4b00; background: #fff7e6; padding: 8px 12px;
        border-left: 3px solid #f0a020; margin: 8px 0; font-size: 14px; }
table { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f6f6f6; } .lmrec-plot { margin: 16px 0; }
nav a { margin-right: 14px; font-size: 14px; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any) -> str:
    """A table cell: floats to 4 decimals (p-values and tiny numbers in exponent form), None as a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return esc(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def plot_div(plot: Plot) -> str:
    inner = plot.figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"plot-{plot.id}",
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="lmrec-plot" data-plot="{esc(plot.id)}" data-data="{esc(plot.data)}">{inner}</div>'


def page(title: str, meta: list[str], blocks: dict[str, list[str]], plots: list[Plot]) -> str:
    """The whole document: `blocks[section]` (HTML of tables and notes) then that section's plots."""
    from plotly.offline import get_plotlyjs

    sections = [s for s in SECTIONS if blocks.get(s) or any(p.section == s for p in plots)]
    nav = "".join(f'<a href="#{s}">{esc(SECTIONS[s])}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{s}"><h2>{esc(SECTIONS[s])}</h2>')
        body.extend(blocks.get(s, []))
        body.extend(plot_div(p) for p in plots if p.section == s)
        body.append("</section>")
    meta_html = "".join(f'<p class="meta">{m}</p>' for m in meta)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f'<body data-plots="{len(plots)}"><h1>{esc(title)}</h1>{meta_html}<nav>{nav}</nav>'
        + "".join(body)
        + "</body></html>\n"
    )
