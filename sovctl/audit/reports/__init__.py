"""Render an audit report dict: table (terminal), json (the contract), csv, sarif, html."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sovctl.audit.reports import csv_report, html, sarif, table

FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": table.render,
    "json": lambda report: json.dumps(report, indent=2, ensure_ascii=False) + "\n",
    "html": html.render,
    "csv": csv_report.render,
    "sarif": sarif.render,
}


def render(report: dict[str, Any], fmt: str) -> str:
    return FORMATS[fmt](report)
