"""One CSV table of hosts and endpoints, for spreadsheets (reasons joined with " | ")."""

from __future__ import annotations

import csv
import io
from typing import Any

COLUMNS = ["kind", "name", "purpose", "provider", "region", "country", "verdict", "used_by",
           "reasons"]


def render(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for h in report["hosts"]:
        writer.writerow(["host", h["name"], "", h["provider"] or "", h["region"] or "",
                         h["country"] or "", h["verdict"], "", " | ".join(h["reasons"])])
    for e in report["endpoints"]:
        writer.writerow(["endpoint", e["url"], e["purpose"], "", "", e["country"] or "",
                         e["verdict"], " ".join(e["used_by"]), " | ".join(e["reasons"])])
    return out.getvalue()
