"""Property: whatever the mutation of the example inventory, check and audit answer well.

Issue 21, acceptance 2 (and 3 on random inputs): Hypothesis changes the example
inventory's keys, values, types or YAML text, then runs ``sovctl check --offline``
and ``sovctl audit``. The exit code is in the documented set and never 70 (a bug),
a refusal names a file, nothing raises (no traceback), no template runs a command,
and the two commands agree on whether the inventory is valid.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_hostile_inventories import run_sovctl

CHECK_CODES = {0, 65}
AUDIT_CODES = {0, 1, 2}
FILES = ["hosts.yml", "group_vars/all/main.yml", "group_vars/turn/main.yml",
         "group_vars/office/main.yml", "group_vars/identity/main.yml"]
MARKER = Path(tempfile.gettempdir()) / "sovctl-property-pwned"

NASTY = ["", " ", "{{ lookup('pipe', 'touch " + str(MARKER) + "') }}", "{{ sov_domain }}",
         "{{ undefined_thing }}", "http:///x", "XX", "UK", "FR", "../../etc", "=1+1",
         "{{ 'a' * 10 }}", "{% for x in [1] %}{{ x }}{% endfor %}", "}}", "{%", "\t",
         "a\nb", "stun:", "https://", "0", "65536", "true", "!vault", "*a", "&a x",
         "outscale", "eu-west-2", "secnumcloud", "{{ sov_domain | urlsplit('hostname') }}"]
scalars = (st.none() | st.booleans() | st.integers(-(2 ** 40), 2 ** 40)
           | st.floats(allow_nan=False, width=32) | st.text(max_size=12)
           | st.sampled_from(NASTY))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6) | st.sampled_from(["url", "host", "country"]), inner, max_size=3),
    max_leaves=6)
SNIPPETS = st.text(alphabet=":-[]{}&*!|>'\"\t\n #%@`=,?x1", max_size=8) | st.sampled_from(
    ["\t", ": :", "- ", "&a [*a]", "!!python/object:os.system", "\x00", "{{", "\n  - x\n"])


@pytest.fixture(scope="module")
def base(vaulted_example) -> Path:
    return vaulted_example


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a YAML document."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            found.append((*prefix, k))
            found += _paths(v, (*prefix, k))
    return found


def _parent(data: Any, path: tuple) -> dict:
    for k in path[:-1]:
        data = data[k]
    return data


@st.composite
def mutations(draw):
    rel = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["set", "set", "delete", "rename", "add", "text", "truncate"]))
    return rel, kind, draw(st.data())


def mutate(inv: Path, rel: str, kind: str, data) -> None:
    path = inv / rel
    text = path.read_text()
    if kind in ("text", "truncate"):
        at = data.draw(st.integers(0, len(text)))
        snippet = data.draw(SNIPPETS) if kind == "text" else ""
        path.write_text(text[:at] + snippet + (text[at:] if kind == "text" else ""))
        return
    doc = yaml.safe_load(text)
    paths = _paths(doc)
    if kind == "add" or not paths:
        name = data.draw(st.sampled_from(["sov_contry", "coturn_listning_port", "sov_x",
                                          "livekit_port", "sov_country", "foo"])
                         | st.text(max_size=10))
        target = data.draw(st.sampled_from(paths)) if paths and data.draw(st.booleans()) else ()
        holder = _parent(doc, (*target, None)) if target else doc
        if isinstance(holder, dict) and target:
            holder = holder.get(target[-1])
        if isinstance(holder, dict):
            holder[name] = data.draw(values)
        elif target:
            _parent(doc, target)[target[-1]] = {name: data.draw(values)}
        else:
            doc = {name: data.draw(values)} if not isinstance(doc, dict) else doc
    else:
        key_path = data.draw(st.sampled_from(paths))
        parent = _parent(doc, key_path)
        key = key_path[-1]
        if kind == "set":
            parent[key] = data.draw(values)
        elif kind == "delete":
            del parent[key]
        else:
            new = data.draw(st.text(max_size=10) | st.just(str(key)[:-1]))
            parent[new] = parent.pop(key)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations())
def test_mutated_example_inventory_is_answered_well(base: Path, mutation) -> None:
    rel, kind, data = mutation
    with tempfile.TemporaryDirectory() as tmp:
        inv = Path(tmp) / "inv"
        shutil.copytree(base, inv)
        mutate(inv, rel, kind, data)
        check_code, check_out = run_sovctl(["check", "-i", str(inv), "--offline"], False)
        audit_code, audit_out = run_sovctl(["audit", "-i", str(inv)], False)
    for code, out, allowed in ((check_code, check_out, CHECK_CODES),
                               (audit_code, audit_out, AUDIT_CODES)):
        assert code in allowed, out
        assert "Traceback" not in out and "Internal error" not in out, out
        if code in (2, 65):
            assert str(inv) in out, f"the message names no file:\n{out}"
    assert not MARKER.exists(), "a template ran a command"
    assert (check_code == 0) == (audit_code in (0, 1)), (check_out, audit_out)
