"""ISO 3166-1 alpha-2 country codes (sovctl/data/iso3166-1-alpha2.txt)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any


@cache
def country_codes() -> frozenset[str]:
    text = resources.files("sovctl.data").joinpath("iso3166-1-alpha2.txt").read_text()
    return frozenset(word for line in text.splitlines() if not line.startswith("#")
                     for word in line.split())


def is_country(code: Any) -> bool:
    """True for an assigned code such as FR or GB; False for UK, XX, fr, or a non-string."""
    return isinstance(code, str) and code in country_codes()
