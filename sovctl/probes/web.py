"""What several probes ask of a web endpoint, asked one way."""

from __future__ import annotations

from sovctl.probes import expect


def redirects_to_https(url: str) -> str:
    """Evidence that plain-HTTP ``url`` answers 301 to an https:// location; Failed if not."""
    import requests

    r = requests.get(url, allow_redirects=False, timeout=10)
    location = r.headers.get("Location", "")
    expect(r.status_code == 301 and location.startswith("https://"),
           f"{url} answered HTTP {r.status_code}, Location {location!r}")
    return f"{url}: 301 to {location}"
