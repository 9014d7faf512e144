"""The data-flow diagram: an inline SVG, no script, no external asset.

Left: hosts grouped by country, then by provider (names listed, long lists cut).
Right: the external endpoints. An arrow goes from each provider group to every
endpoint one of its hosts uses, coloured by the endpoint's verdict.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

COLOURS = {"ok": "#2e7d32", "warning": "#ed6c02", "violation": "#c62828"}
WIDTH = 1000
LEFT_X, LEFT_W = 20, 330
RIGHT_X, RIGHT_W = 600, 380
ROW = 18
MAX_NAMES = 4
MAX_LABEL = 52


def _groups(report: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    tree: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for h in report["hosts"]:
        tree[h["country"] or "unknown"][h["provider"] or "no provider"].append(h["name"])
    return {c: dict(p) for c, p in sorted(tree.items())}


def _cut(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (f" +{len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else "")


def layout(report: dict[str, Any]) -> dict[str, Any]:
    """Boxes and arrows with coordinates (pure, so it can be tested without a browser)."""
    boxes, anchors = [], {}
    y = 40
    for country, providers in _groups(report).items():
        top = y
        y += ROW + 6
        for provider, names in sorted(providers.items()):
            boxes.append({"kind": "group", "x": LEFT_X + 12, "y": y, "w": LEFT_W - 24,
                          "h": 2 * ROW + 8, "title": f"{provider} ({len(names)} hosts)",
                          "text": _cut(_names(names))})
            anchors[(country, provider)] = (LEFT_X + LEFT_W - 12, y + ROW + 4)
            y += 2 * ROW + 16
        boxes.append({"kind": "country", "x": LEFT_X, "y": top, "w": LEFT_W,
                      "h": y - top, "title": country, "text": ""})
        y += 12
    left_bottom = y
    host_group = {h["name"]: (h["country"] or "unknown", h["provider"] or "no provider")
                  for h in report["hosts"]}
    arrows, y = [], 40
    for ep in report["endpoints"]:
        boxes.append({"kind": "endpoint", "x": RIGHT_X, "y": y, "w": RIGHT_W, "h": 2 * ROW + 8,
                      "title": f"{ep['purpose']} · {ep['country'] or '?'} · {ep['verdict']}",
                      "text": _cut(ep["url"]), "verdict": ep["verdict"]})
        for group in sorted({host_group[n] for n in ep["used_by"] if n in host_group}):
            x1, y1 = anchors[group]
            arrows.append({"x1": x1, "y1": y1, "x2": RIGHT_X, "y2": y + ROW + 4,
                           "verdict": ep["verdict"]})
        y += 2 * ROW + 16
    return {"width": WIDTH, "height": max(left_bottom, y) + 20, "boxes": boxes,
            "arrows": arrows}


def _box(b: dict[str, Any]) -> str:
    stroke = COLOURS.get(b.get("verdict", ""), "#607d8b")
    fill = {"country": "#eef3f8", "group": "#ffffff", "endpoint": "#ffffff"}[b["kind"]]
    width = 2.5 if b["kind"] == "endpoint" else 1
    parts = [f'<rect x="{b["x"]}" y="{b["y"]}" width="{b["w"]}" height="{b["h"]}" rx="6" '
             f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>',
             f'<text x="{b["x"] + 8}" y="{b["y"] + 15}" class="t">{escape(b["title"])}</text>']
    if b["text"]:
        parts.append(f'<text x="{b["x"] + 8}" y="{b["y"] + 15 + ROW}" class="s">'
                     f'{escape(b["text"])}</text>')
    return "".join(parts)


def _arrow(a: dict[str, Any]) -> str:
    mid = (a["x1"] + a["x2"]) / 2
    colour = COLOURS[a["verdict"]]
    return (f'<path d="M{a["x1"]},{a["y1"]} C{mid},{a["y1"]} {mid},{a["y2"]} '
            f'{a["x2"]},{a["y2"]}" fill="none" stroke="{colour}" stroke-width="1.6" '
            f'marker-end="url(#arrow-{a["verdict"]})"/>')


def svg(report: dict[str, Any]) -> str:
    plan = layout(report)
    markers = "".join(
        f'<marker id="arrow-{v}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
        for v, c in COLOURS.items())
    heads = ('<text x="20" y="24" class="h">Hosts by country and provider</text>'
             f'<text x="{RIGHT_X}" y="24" class="h">External endpoints</text>')
    body = "".join(_box(b) for b in plan["boxes"]) + "".join(_arrow(a) for a in plan["arrows"])
    return (f'<svg role="img" aria-label="Data flows from hosts to external endpoints" '
            f'viewBox="0 0 {plan["width"]} {plan["height"]}" width="{plan["width"]}" '
            f'height="{plan["height"]}"><defs>{markers}</defs>{heads}{body}</svg>')
