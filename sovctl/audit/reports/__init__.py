"""Render an audit report dict: table (terminal), json (the contract), csv, sarif, html."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sovctl.audit.reports import csv_report, html, json_report, sarif, table

FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "table": table.render,
    "json": json_report.render,
    "html": html.render,
    "csv": csv_report.render,
    "sarif": sarif.render,
}


def render(report: dict[str, Any], fmt: str) -> str:
    return FORMATS[fmt](report)
