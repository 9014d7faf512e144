"""Plain HTML pages for errors: a clear sentence and a way back, never a stack trace."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title} - Meet</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #111; color: #eee; display: grid;
  place-items: center; min-height: 100vh; margin: 0; }}
main {{ max-width: 32rem; padding: 2rem; }}
a {{ color: #8cf; }}
</style>
</head>
<body>
<main class="sovmeet-error" data-status="{status}">
<h1>{title}</h1>
<p>{message}</p>
<p><a href="/">Start or join another meeting</a></p>
</main>
</body>
</html>
"""


def error_page(status: int, title: str, message: str) -> str:
    return _PAGE.format(status=status, title=escape(title), message=escape(message))
