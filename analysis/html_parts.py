"""Pieces of ionto's HTML reports: the style, numbers as the reports write them, tables and
figures (a PNG linking to its SVG).  No JavaScript."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1200px;color:#222}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0} td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} tr.bad td{color:#999} .warn{color:#a40}
img{max-width:100%;border:1px solid #eee} .meta{color:#555;font-size:.9em} figure{margin:1em 0}
figcaption{font-size:.85em;color:#555}
"""


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "∞" if v == math.inf else "—"
        return f"{v:.{digits}g}"
    return html.escape(str(v))


def table(header: list[str], rows: list[list[Any]], bad: list[bool] | None = None, left: int = 1) -> str:
    th = "".join(f"<th class='l'>{html.escape(h)}</th>" if i < left else f"<th>{html.escape(h)}</th>"
                 for i, h in enumerate(header))
    body = []
    for k, r in enumerate(rows):
        cls = " class='bad'" if bad and bad[k] else ""
        tds = "".join(f"<td class='l'>{fmt(v)}</td>" if i < left else f"<td>{fmt(v)}</td>" for i, v in enumerate(r))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def figure(figs: dict[str, dict[str, str]], name: str, caption: str, out: Path) -> str:
    if name not in figs:
        return ""
    png = Path(figs[name]["png"]).relative_to(out)
    svg = Path(figs[name]["svg"]).relative_to(out)
    return (f"<figure><a href='{svg}'><img src='{png}' alt='{html.escape(caption)}'></a>"
            f"<figcaption>{html.escape(caption)} (<a href='{svg}'>SVG</a>)</figcaption></figure>")
