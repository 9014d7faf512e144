"""The JSON report's layout: the same data as json.dumps, one row per line."""

from __future__ import annotations

import json

from sovctl.audit.reports import json_report


def test_the_json_report_is_the_report_one_row_per_line() -> None:
    report = {
        "policy": "eu-residency",
        "summary": {"hosts": 2, "endpoints": 1, "violations": 0, "warnings": 0},
        "hosts": [{"name": "h1", "reasons": ["é"]}, {"name": "h2", "reasons": []}],
        "endpoints": [{"url": "stun:h1:3478", "used_by": ["h1", "h2"]}],
        "findings": [],
        "meta": {"sources": {"hosts": {"h1": [{"a": 1}]}}, "locations": [], "x": None},
    }
    text = json_report.render(report)
    assert json.loads(text) == report
    assert text.endswith("}\n") and "é" in text
    lines = text.splitlines()
    assert '    {"name": "h1", "reasons": ["é"]},' in lines
    assert '    {"url": "stun:h1:3478", "used_by": ["h1", "h2"]}' in lines
    assert '  "findings": [],' in lines


def test_a_long_list_rows_share_is_written_as_json_dumps_writes_it() -> None:
    hosts = [f"h{i}" for i in range(100)]
    rows = [{"url": f"t{i}", "used_by": hosts, "reasons": ["r"]} for i in range(3)]
    report = {"endpoints": rows}
    lines = json_report.render(report).splitlines()
    assert lines[2:5] == [f"    {json.dumps(row, ensure_ascii=False)}" + ("," if i < 2 else "")
                          for i, row in enumerate(rows)]


def test_a_large_report_comes_in_pieces_that_make_the_same_text() -> None:
    report = {"hosts": [{"name": f"h{i}", "verdict": "ok"} for i in range(2000)],
              "meta": {"x": 1}}
    pieces = list(json_report.chunks(report))
    assert len(pieces) > 5
    assert "".join(pieces) == json_report.render(report)
    assert json.loads("".join(pieces)) == report
