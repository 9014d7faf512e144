"""The audit's inventory reader merges variables exactly as Ansible does, and renders
endpoint variables (templates, role defaults) the way the roles will."""

from __future__ import annotations

from pathlib import Path

import pytest

from sovctl.audit import catalogue, hostvars, inputs
from sovctl.audit.service import AuditRequest, run_audit
from sovctl.errors import InputError
from tests.helpers import write

ROOT = Path(__file__).resolve().parents[2]



PRECEDENCE = {
    "hosts.yml": """
        ---
        all:
          vars: {v_all_inv: inv, v_layer: all-inventory}
          children:
            parent:
              vars: {v_layer: parent-inventory}
              children:
                child:
                  vars: {v_layer: child-inventory}
                  hosts:
                    h1: {v_host: inline}
                    h2: {}
            other:
              vars: {ansible_group_priority: 10, v_prio: other}
              hosts:
                h2: {}
                h3: {v_layer: h3-inline}
            zeta:
              vars: {v_prio: zeta}
              hosts:
                h2: {}
        """,
    "group_vars/all.yml": "---\nv_layer: all-file\nv_all_file: yes-all\n",
    "group_vars/parent.yml": "---\nv_layer: parent-file\nv_parent_file: p\n",
    "group_vars/child.yml": "---\nv_layer: child-file\n",
    "host_vars/h1.yml": "---\nv_host: host-file\n",
    "host_vars/h3/main.yml": "---\nv_dir: from-dir\n",
}


def test_merge_matches_ansible_variable_manager(tmp_path: Path) -> None:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    inv = write(tmp_path / "inv", PRECEDENCE)
    view = hostvars.load(inv)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inv)])
    vm = VariableManager(loader=loader, inventory=manager)
    for hv in view.hosts:
        ansible_vars = vm.get_vars(host=manager.get_host(hv.name), include_hostvars=False)
        mine = {k: hostvars.plain(v) for k, v in hv.raw.items() if k.startswith("v_")}
        theirs = {k: hostvars.plain(v) for k, v in ansible_vars.items() if k.startswith("v_")}
        assert mine == theirs, hv.name
    by_name = {hv.name: hv.raw for hv in view.hosts}
    assert by_name["h1"]["v_layer"] == "child-file" and by_name["h1"]["v_host"] == "host-file"
    assert by_name["h2"]["v_prio"] == "other"  # ansible_group_priority beats the name order
    assert by_name["h3"]["v_dir"] == "from-dir"


def test_host_vars_files_of_every_spelling_are_read(tmp_path: Path) -> None:
    """host_vars/ is listed once and the vars plugin runs for the hosts it names: each
    host still gets exactly what VariableManager gives it (.yaml, .json, a directory, no
    extension, and a host whose name begins another's)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    inv = write(tmp_path / "inv", {
        "hosts.yml": "---\nall:\n  hosts:\n    web1: {}\n    web10: {}\n    db.x: {}\n"
                     "    mail: {}\n    none: {v_inline: 1}\n",
        "host_vars/web10.yaml": "---\nv_a: ten\n",
        "host_vars/db.x.json": '{"v_a": "json"}\n',
        "host_vars/mail": "---\nv_a: bare\n",
        "host_vars/web1/a.yml": "---\nv_a: dir\n"})
    view = hostvars.load(inv)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inv)])
    vm = VariableManager(loader=loader, inventory=manager)
    got = {}
    for hv in view.hosts:
        theirs = vm.get_vars(host=manager.get_host(hv.name), include_hostvars=False)
        got[hv.name] = {k: hostvars.plain(v) for k, v in hv.raw.items() if k.startswith("v_")}
        assert got[hv.name] == {k: hostvars.plain(v) for k, v in theirs.items()
                                if k.startswith("v_")}, hv.name
    assert got == {"web1": {"v_a": "dir"}, "web10": {"v_a": "ten"}, "db.x": {"v_a": "json"},
                   "mail": {"v_a": "bare"}, "none": {"v_inline": 1}}


SCALARS = """
    ---
    all:
      vars:
        v_base: &base {v_a: 1, v_b: [x, y]}
      children:
        web:
          hosts:
            w1:
              v_bools: [yes, no, on, off, true, "yes"]
              v_numbers: [0o17, 017, 0x1f, 1_000, 1e3, .inf, 12:30]
              v_nulls: [~, null, ""]
              v_date: 2024-01-02
              v_text: "é {{ x }}"
              v_block: |
                two
                lines
              v_merged:
                <<: *base
                v_c: 3
            10.0.0.1: {v_key: {1: one, 2.5: half}}
    """


@pytest.mark.parametrize("extra", ["", "\n# a tag makes Ansible read it: !unsafe\n"])
def test_hosts_yml_values_are_those_ansible_reads(tmp_path: Path, extra: str) -> None:
    """hosts.yml without tags is read by libyaml's safe loader (or taken from preflight),
    with a tag by Ansible's loader: the values are Ansible's either way."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    inv = write(tmp_path / "inv", {"hosts.yml": SCALARS + extra})
    view = hostvars.load(inv)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inv)])
    vm = VariableManager(loader=loader, inventory=manager)
    assert [hv.name for hv in view.hosts] == [h.name for h in manager.get_hosts()]
    for hv in view.hosts:
        theirs = vm.get_vars(host=manager.get_host(hv.name), include_hostvars=False)
        mine = {k: hostvars.plain(v) for k, v in hv.raw.items() if k.startswith("v_")}
        assert mine == {k: hostvars.plain(v) for k, v in theirs.items()
                        if k.startswith("v_")}, hv.name
    w1 = next(hv.raw for hv in view.hosts if hv.name == "w1")
    assert hostvars.plain(w1["v_merged"]) == {"v_a": 1, "v_b": ["x", "y"], "v_c": 3}


def test_bad_inventory_exits_2_naming_the_file(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", {"hosts.yml": "---\nall:\n  hosts:\n    h1: {}\n",
                                   "group_vars/all.yml": "---\nkey: [unclosed\n"})
    with pytest.raises(InputError) as err:
        hostvars.load(inv)
    assert getattr(err.value, "exit_code", None) == 2
    assert str(inv) in err.value.message


STACK = {
    "hosts.yml": """
        ---
        all:
          children:
            conferencing:
              hosts:
                conf1: {}
            identity:
              hosts:
                id1: {}
        """,
    "group_vars/all.yml": """
        ---
        sov_provider: scaleway
        sov_region: fr-par
        sov_stun_servers: ["stun:stun.example.eu:3478"]
        sov_smtp_relay: "{{ mail_host }}:587"
        mail_host: smtp-relay.brevo.com
        sov_endpoint_locations:
          stun.example.eu: {country: FR, operator: Example SAS, parent_country: FR}
        """,
}


def _read(inv: Path, roles: Path | None = None) -> inputs.AuditInput:
    return inputs.read_inputs(hostvars.load(inv), catalogue.load_registry(), roles)


def test_templates_resolve_against_the_host_vars(tmp_path: Path) -> None:
    audit_input = _read(write(tmp_path / "inv", STACK))
    uses = {(h, u.var): u for u in audit_input.uses for h in u.hosts}
    stun = uses[("conf1", "livekit_stun_servers")]
    assert (stun.value, stun.origin) == ("stun:stun.example.eu:3478", "documented default")
    assert uses[("id1", "keycloak_smtp_host")].value == "smtp-relay.brevo.com:587"
    assert ("id1", "livekit_stun_servers") not in uses  # not in group conferencing


def test_role_defaults_are_read_when_the_role_exists(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", STACK)
    roles = write(tmp_path / "roles", {"livekit/defaults/main.yml":
                                       '---\nlivekit_stun_servers: "{{ sov_stun_servers[:1] }}"\n'})
    uses = {(h, u.var): u for u in _read(inv, roles).uses for h in u.hosts}
    assert uses[("conf1", "livekit_stun_servers")].origin == "role livekit default"


def test_changing_the_inventory_value_changes_the_verdict(tmp_path: Path) -> None:
    """The value a role renders is the value audited: swap our STUN for Google's."""
    inv = write(tmp_path / "inv", STACK)

    def stun_verdicts() -> dict[str, str]:
        report = run_audit(AuditRequest(inv, "eu-sovereign", ROOT / "policies", None))
        return {e["url"]: e["verdict"] for e in report["endpoints"] if e["purpose"] == "stun"}

    assert stun_verdicts() == {"stun:stun.example.eu:3478": "ok"}
    gv = inv / "group_vars" / "all.yml"
    gv.write_text(gv.read_text().replace("stun.example.eu:3478", "stun.l.google.com:19302"))
    assert stun_verdicts() == {"stun:stun.l.google.com:19302": "violation"}


def test_undefined_variable_in_a_template_names_the_file(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", {**STACK, "host_vars/id1.yml":
                                   '---\nkeycloak_smtp_host: "{{ nowhere }}"\n'})
    with pytest.raises(InputError) as err:
        _read(inv)
    assert err.value.exit_code == 2
    assert err.value.field == "hosts.id1.keycloak_smtp_host"
    assert err.value.file == str(inv / "host_vars" / "id1.yml")


def test_renderer_memoises_equal_contexts(tmp_path: Path) -> None:
    view = hostvars.load(write(tmp_path / "inv", STACK))
    renderer = hostvars.Renderer(view.loader)
    ctx = dict(view.hosts[0].raw)
    first = renderer.render(ctx["sov_smtp_relay"], ctx)
    assert first == "smtp-relay.brevo.com:587" and len(renderer._cache) == 1
    renderer.render(ctx["sov_smtp_relay"], {**ctx, "unrelated": 1})
    assert len(renderer._cache) == 1
    ctx["mail_host"] = "smtp.sendgrid.net"
    assert renderer.render(ctx["sov_smtp_relay"], ctx) == "smtp.sendgrid.net:587"


def test_inventory_hash_ignores_hidden_files(tmp_path: Path) -> None:
    inv = write(tmp_path / "inv", STACK)
    before = hostvars.inventory_sha256(inv)
    (inv / ".vault-pass").write_text("secret\n")
    assert hostvars.inventory_sha256(inv) == before
    (inv / "group_vars" / "all.yml").write_text("---\n")
    assert hostvars.inventory_sha256(inv)[0] != before[0]


def test_defaults_computed_from_other_hosts_are_what_the_hosts_will_contact() -> None:
    """The meeting app's OIDC issuer comes from the first identity host's keycloak_hostname
    and LiveKit's TURN list from the `turn` group (the roles' own defaults, read with
    `groups` and `hostvars`): the sandbox's app talks to https://10.231.47.11, its own
    Keycloak, not to https://id.sandbox.test (what the audit said when it could not read
    other hosts)."""
    report = run_audit(AuditRequest(ROOT / "inventories/sandbox", "eu-residency",
                                    ROOT / "policies", ROOT / "roles"))
    by_purpose = {e["purpose"]: e for e in report["endpoints"] if e["purpose"] in ("oidc",
                                                                                     "turn")}
    assert by_purpose["oidc"]["url"] == "https://10.231.47.11/realms/sov"
    assert by_purpose["oidc"]["verdict"] == "ok"
    assert by_purpose["turn"]["used_by"] == ["sandbox-rtc"]
    assert by_purpose["turn"]["verdict"] == "ok"


@pytest.mark.parametrize("item,bound", [
    ("1", "a list of more than 100000 items"),
    # The bound is in characters too: 100 items of 10,000 characters are enough.
    ("'a' * 10000", "a list of more than 1000000 characters"),
])
def test_a_template_that_grows_the_list_it_loops_over_is_bad_input(
        tmp_path: Path, item: str, bound: str) -> None:
    grow = (f'"{{%- set xs = [{item}] -%}}{{%- for x in xs -%}}{{%- set _ = xs.append(x) -%}}'
            '{%- endfor -%}{{ xs | length }}"')
    inv = write(tmp_path / "inv", {**STACK, "host_vars/id1.yml":
                                   f"---\nkeycloak_smtp_host: {grow}\n"})
    with pytest.raises(InputError) as err:
        _read(inv)
    assert err.value.exit_code == 2
    assert bound in err.value.message


def test_hostvars_cannot_chase_each_other_forever(tmp_path: Path) -> None:
    loop = {**STACK,
            "host_vars/id1.yml": '---\nkeycloak_smtp_host: "{{ hostvars[\'conf1\'].x }}"\n'
                                 'x: "{{ hostvars[\'conf1\'].x }}"\n',
            "host_vars/conf1.yml": '---\nx: "{{ hostvars[\'id1\'].x }}"\n'}
    with pytest.raises(InputError) as err:
        _read(write(tmp_path / "inv", loop))
    assert err.value.exit_code == 2
