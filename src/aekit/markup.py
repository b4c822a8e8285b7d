"""HTML pieces for the pages aekit writes (``aekit report``) and the runs it shows in a
notebook: escaped text, tables with numbers right-aligned, PNG images embedded as data URIs
(so a page needs no other file and no network)."""

from __future__ import annotations

import base64
import html
from typing import Any


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def table(
    header: list[str], rows: list[list[Any]], show_header: bool = True, raw_first: bool = False
) -> str:
    """An HTML table; numbers right-aligned, ``raw_first`` keeps first-column HTML (links)."""
    lines = ["<table>"]
    if show_header:
        lines.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = [
            f"<td>{value}</td>" if i == 0 and raw_first else cell(value)
            for i, value in enumerate(row)
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def cell(value: Any) -> str:
    if isinstance(value, float):
        return f"<td class='num' style='text-align:right'>{value:.5g}</td>"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"<td class='num' style='text-align:right'>{value}</td>"
    return f"<td>{escape('' if value is None else value)}</td>"


def embedded_image(data: bytes, alt: str, mime: str = "image/png") -> str:
    """An ``<img>`` carrying its own bytes."""
    encoded = base64.b64encode(data).decode("ascii")
    return f"<img src='data:{mime};base64,{encoded}' alt='{escape(alt)}'>"
