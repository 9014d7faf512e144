"""An offline GeoIP/ASN database: a CSV of ``cidr,country[,asn]`` lines.

Users produce it from the source they trust (a registry's delegation files, a
commercial export): one network per line, ``#`` comments and a header line
allowed, the most specific network wins. MaxMind .mmdb files are not read (that
needs a reader package sovctl does not depend on): convert them to this CSV.
"""

from __future__ import annotations

import csv
import ipaddress
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from sovctl.errors import EXIT_AUDIT_BAD_INPUT, InputError

_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class GeoRecord:
    network: str
    country: str
    asn: str | None


class GeoIP:
    """Longest-prefix lookup: one dict per (IP version, prefix length)."""

    def __init__(self, records: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network,
                                           GeoRecord]], source: str):
        self.source = source
        self._tables: dict[tuple[int, int], dict[int, GeoRecord]] = {}
        for net, rec in records:
            self._tables.setdefault((net.version, net.prefixlen), {})[
                int(net.network_address)] = rec
        self._order = sorted(self._tables, key=lambda k: -k[1])

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    def lookup(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> GeoRecord | None:
        bits = 32 if ip.version == 4 else 128
        value = int(ip)
        for version, length in self._order:
            if version != ip.version:
                continue
            key = value >> (bits - length) << (bits - length)
            hit = self._tables[(version, length)].get(key)
            if hit is not None:
                return hit
        return None


MAX_GEOIP_BYTES = 512 * 1024 * 1024


def load_geoip(path: Path) -> GeoIP:
    if path.suffix == ".mmdb":
        raise InputError("MaxMind .mmdb databases are not read", file=str(path),
                         field="--geoip", exit_code=EXIT_AUDIT_BAD_INPUT,
                         hint="export it to a CSV of cidr,country,asn lines")
    def bad(message: str) -> InputError:
        return InputError(message, file=str(path), field="--geoip",
                          exit_code=EXIT_AUDIT_BAD_INPUT,
                          hint="give a CSV file of cidr,country[,asn] lines")

    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise bad("not a regular file")
        if st.st_size > MAX_GEOIP_BYTES:
            raise bad(f"larger than {MAX_GEOIP_BYTES // (1024 * 1024)} MiB")
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise bad(f"cannot read the GeoIP database: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise bad("not UTF-8 text (a binary file?)") from None
    if "\x00" in text:
        raise bad("a binary file, not CSV")
    try:
        return GeoIP(list(_records(text, path)), str(path))
    except csv.Error as exc:
        raise bad(f"not CSV: {exc}") from None


def _records(text: str, path: Path):
    lines = (line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    for number, row in enumerate(csv.reader(lines), start=1):
        if number == 1 and row and row[0].strip().lower() in ("cidr", "network"):
            continue
        try:
            net = ipaddress.ip_network(row[0].strip(), strict=False)
            country = row[1].strip().upper()
        except (ValueError, IndexError) as exc:
            raise _bad_row(path, number, row) from exc
        if not _COUNTRY.fullmatch(country):
            raise _bad_row(path, number, row)
        asn = row[2].strip() if len(row) > 2 and row[2].strip() else None
        yield net, GeoRecord(str(net), country, asn)


def _bad_row(path: Path, number: int, row: list[str]) -> InputError:
    return InputError(f"data row {number} is not 'cidr,country[,asn]': {','.join(row)!r}",
                      file=str(path), field="--geoip", exit_code=EXIT_AUDIT_BAD_INPUT)
