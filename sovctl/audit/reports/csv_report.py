"""One CSV table of hosts and endpoints, for spreadsheets (reasons joined with " | ")."""

from __future__ import annotations

import csv
import io
from typing import Any

# A cell a spreadsheet would read as a formula (or a DDE command) starts with one of
# these: it is written with a leading ' so that it stays text (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


COLUMNS = ["kind", "name", "purpose", "provider", "region", "country", "verdict", "used_by",
           "reasons"]


def render(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for h in report["hosts"]:
        writer.writerow([cell(v) for v in (
            "host", h["name"], "", h["provider"] or "", h["region"] or "", h["country"] or "",
            h["verdict"], "", " | ".join(h["reasons"]))])
    for e in report["endpoints"]:
        writer.writerow([cell(v) for v in (
            "endpoint", e["url"], e["purpose"], "", "", e["country"] or "", e["verdict"],
            " ".join(e["used_by"]), " | ".join(e["reasons"]))])
    return out.getvalue()
