"""A corpus of hostile inventories (issue 21), each made from inventories/example.

Each case edits a copy of the example inventory (with a generated vault, so the
copy itself passes ``check``) and names what ``check --offline`` and ``audit``
must answer: the exit codes and a fragment of the message. ``{marker}`` in a case
is a file that must never be created; ``{outside}`` a file outside the inventory
whose content (CANARY) must never appear in any output.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example"
CANARY = "CANARY-7f3a-outside-the-inventory"
ALL = "group_vars/all/main.yml"
TURN = "group_vars/turn/main.yml"
TURN1 = "turn1.par.collab.example.org"


@dataclass(frozen=True)
class Case:
    name: str
    edit: Callable[[Path, dict], None]
    fragment: str  # in the combined output of both commands (case-insensitive)
    check: int | None = 65  # None: not applicable (audit-only input)
    audit: int = 2
    heavy: bool = False  # a resource attack: run in a limited subprocess
    policy: str | None = None  # --policy for the audit (a file, formatted with ctx)
    inventory: str | None = None  # -i instead of the copy (formatted with ctx)
    geoip: str | None = None  # --geoip for the audit (formatted with ctx)


def set_var(rel: str, name: str, value) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / rel
        data = yaml.safe_load(path.read_text()) or {}
        data[name] = value.format(**ctx) if isinstance(value, str) else value
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return edit


def _fill(text: str, ctx: dict) -> str:
    for key, value in ctx.items():
        text = text.replace("{" + key + "}", value)
    return text


def append(rel: str, text: str) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(_fill(text, ctx))
    return edit


def write_file(rel: str, text: str | bytes) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(_fill(text, ctx))
    return edit


def rename_host(new: str) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / "hosts.yml"
        path.write_text(path.read_text().replace(TURN1, new))
    return edit


def add_turn_host(name: str) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / "hosts.yml"
        data = yaml.safe_load(path.read_text())
        data["all"]["children"]["turn"]["hosts"][name] = {"ansible_host": "192.0.2.99"}
        path.write_text(yaml.safe_dump(data))
    return edit


def symlink(rel: str, target_key: str) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        path = inv / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(ctx[target_key], path)
    return edit


def fifo(rel: str) -> Callable[[Path, dict], None]:
    def edit(inv: Path, ctx: dict) -> None:
        os.mkfifo(inv / rel)
    return edit


def script(inv: Path, ctx: dict) -> None:
    path = inv / "dynamic"
    path.write_text(f"#!/bin/sh\ntouch {ctx['marker']}\necho '{{}}'\n")
    path.chmod(0o755)


def truncate_vault(inv: Path, ctx: dict) -> None:
    path = inv / "group_vars" / "all" / "vault.yml"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + [line[:-7] + "zzzzzzz" for line in lines[1:4]]) + "\n")


def nothing(inv: Path, ctx: dict) -> None:
    pass


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n"
    for i in range(9))
BAD_VAULT = """sov_smtp_relay: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  62313365396662343061393464336163383764373764613633653634306231386433626436623361
  6548616c6c6f0a
"""

CASES: list[Case] = [
    Case("lookup-pipe-runs-nothing",
         set_var(ALL, "sov_country", "{{{{ lookup('pipe', 'touch {marker}; echo FR') }}}}"),
         "lookup"),
    Case("lookup-file-reads-nothing",
         set_var(ALL, "sov_apt_mirror", "{{{{ lookup('file', '{outside}') }}}}"), "lookup"),
    Case("query-file", set_var(ALL, "sov_smtp_relay", "{{{{ query('file', '{outside}') }}}}"),
         "query"),
    Case("q-pipe", set_var(ALL, "sov_region", "{{{{ q('pipe', 'touch {marker}') | first }}}}"),
         "calls q()"),
    Case("sandbox-escape",
         set_var(ALL, "sov_domain", "{{{{ ''.__class__.__mro__[1].__subclasses__() }}}}"),
         "__subclasses__"),
    Case("macro", set_var(ALL, "sov_apt_mirror",
                          "{{% macro m() %}}x{{% endmacro %}}{{{{ m() }}}}"), "macro"),
    Case("unknown-filter", set_var(ALL, "sov_apt_mirror", "{{{{ 'x' | to_json }}}}"), "to_json"),
    Case("huge-repeat", set_var(ALL, "sov_apt_mirror", "{{{{ 'x' * 3000000000 }}}}"),
         "would make more than", heavy=True),
    Case("template-cycle", set_var(ALL, "sov_domain", "{{{{ sov_domain }}}}"),
         "refers to itself"),
    Case("unparseable-hosts", write_file("hosts.yml", "all:\n  children: [\n"),
         "hosts.yml: line"),
    Case("empty-hosts", write_file("hosts.yml", ""), "empty"),
    Case("list-hosts", write_file("hosts.yml", "- all\n- turn\n"), "not a list"),
    Case("all-is-5", write_file("hosts.yml", "all: 5\n"), "group all must be a mapping"),
    Case("tab-indented", write_file(
        "hosts.yml", "all:\n  children:\n    turn:\n\thosts:\n\t  t1.example.org:\n"), "tabs"),
    Case("unexpected-group-key", append("hosts.yml", "extra:\n  hostz:\n    a.example.org:\n"),
         "unexpected key"),
    Case("host-walks-up", rename_host("../../evil"), "not a valid host name"),
    Case("host-walks-to-usr", rename_host("../../../../../../usr"), "not a valid host name"),
    Case("host-newline", add_turn_host("evil\nHOST  ok"), "not a valid host name"),
    Case("host-formula", add_turn_host("=HYPERLINK(\"http://x\")"), "not a valid host name"),
    Case("host-jinja", add_turn_host("{{ lookup('pipe','id') }}"), "not a valid host name"),
    Case("host-vars-bad-name", write_file("host_vars/evil host.yml", "sov_country: FR\n"),
         "not a valid host name"),
    Case("group-bad-name", append("hosts.yml", "'bad group':\n  hosts: {}\n"),
         "not a valid group name"),
    Case("alias-bomb", write_file("group_vars/all/bomb.yml", ALIAS_BOMB), "alias",
         heavy=True),
    Case("recursive-alias", write_file("group_vars/all/loop.yml", "sov_x: &a [*a]\n"),
         "refers to itself"),
    Case("deep-nesting", write_file("group_vars/all/deep.yml",
                                    "sov_deep: " + "[" * 900 + "]" * 900 + "\n"),
         "nested", heavy=True),
    Case("huge-file", write_file("group_vars/all/huge.yml",
                                 "sov_pad: '" + "x" * (3 * 1024 * 1024) + "'\n"),
         "larger than", heavy=True),
    Case("dev-zero", nothing, "not a regular file", heavy=True, inventory="/dev/zero"),
    Case("fifo-in-inventory", fifo("hosts2"), "not a regular file", heavy=True),
    Case("binary-hosts", write_file("hosts.yml", b"all:\x00\xff\xfe\n"), "binary"),
    Case("not-utf8", write_file("group_vars/all/latin1.yml", b"sov_x: caf\xe9\n"), "UTF-8"),
    Case("python-tag", write_file("group_vars/all/tag.yml",
                                  "sov_x: !!python/object/apply:os.system ['touch {marker}']\n"),
         "not valid YAML"),
    Case("duplicate-key", append(ALL, "sov_country: DE\n"), "duplicate key"),
    Case("var-file-is-list", write_file("group_vars/turn/extra.yml", "- a\n- b\n"),
         "must be a mapping"),
    Case("bad-var-name", append(ALL, "'bad-name': 1\n"), "not a valid variable name"),
    Case("symlink-outside", symlink("host_vars/rtc1.par.collab.example.org.yml", "outside"),
         "outside the inventory"),
    Case("inventory-script", script, "executable inventory script"),
    Case("plugin-config", write_file("cloud.yml", "plugin: script\n"), "plugin"),
    Case("provider-list", set_var(ALL, "sov_provider", ["outscale"]), "unknown provider"),
    Case("region-dict", set_var(ALL, "sov_region", {"a": 1}), "must be a string"),
    Case("domain-list", set_var(ALL, "sov_domain", ["a.example.org"]), "not a DNS domain"),
    Case("undecryptable-inline-vault", append("group_vars/all/smtp.yml", BAD_VAULT),
         "cannot decrypt"),
    Case("corrupt-vault-file", truncate_vault, "cannot decrypt"),
    Case("endpoint-without-host", set_var(ALL, "sov_apt_mirror", "http:///apt.example.com/deb"),
         "names no valid host"),
    Case("endpoint-mapping-without-url", set_var("group_vars/office/main.yml",
                                                 "collabora_wopi_hosts", [{"urll": "x"}]),
         "url"),
    Case("typo-role-var", set_var(TURN, "coturn_listning_port", 3478), "coturn_listening_port"),
    Case("typo-sov-var", set_var(ALL, "sov_contry", "FR"), "sov_country"),
    Case("port-70000", set_var(TURN, "coturn_listening_port", 70000), "not a port"),
    Case("port-negative", set_var(TURN, "coturn_listening_port", -5), "not a port"),
    Case("port-zero", set_var(TURN, "coturn_listening_port", 0), "not a port"),
    Case("port-true", set_var(TURN, "coturn_listening_port", True), "not a port"),
    Case("inverted-relay-range", lambda inv, ctx: (
        set_var(TURN, "coturn_min_port", 60000)(inv, ctx),
        set_var(TURN, "coturn_max_port", 50000)(inv, ctx)), "inverted"),
    Case("country-xx", set_var(ALL, "sov_country", "XX"), "ISO 3166-1"),
    Case("country-uk", set_var(ALL, "sov_country", "UK"), "ISO 3166-1"),
    Case("unknown-policy", set_var(ALL, "sov_policy", "eu-whatever"), "unknown policy"),
    Case("unknown-offer", set_var(ALL, "sov_offer", "premium-gold"), "unknown offer"),
    Case("locations-not-a-mapping", set_var(ALL, "sov_endpoint_locations", ["x"]),
         "sov_endpoint_locations"),
    Case("empty-site-vars", write_file(ALL, ""), "all/main.yml: hosts."),
    Case("binary-policy", nothing, "binary", check=None, policy="{binary_policy}"),
    Case("binary-geoip", nothing, "not UTF-8", check=None, geoip="{binary_policy}"),
    Case("geoip-dev-zero", nothing, "not a regular file", check=None, geoip="/dev/zero",
         heavy=True),
]
VALID = Case("example", nothing, "", check=0, audit=0)


def make(case: Case, base: Path, work: Path) -> tuple[Path | str, dict]:
    """A copy of ``base`` edited by ``case``; returns (the -i argument, the context)."""
    inv = work / "inv"
    shutil.copytree(base, inv, symlinks=True)
    outside = work / "outside.txt"
    outside.write_text(f"{CANARY}\n")
    binary_policy = work / "policy.yml"
    binary_policy.write_bytes(b"\x00\x01\x02\xff" * 64)
    ctx = {"marker": str(work / "pwned"), "outside": str(outside),
           "binary_policy": str(binary_policy)}
    case.edit(inv, ctx)
    return (case.inventory or inv), ctx
