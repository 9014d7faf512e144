from sovctl.inventory import load_inventory
from sovctl.validate import group_roles, role_specs, validate


def test_playbooks_map_groups_to_roles():
    assert group_roles()["turn"] == ("tls", "coturn")


def test_every_role_default_is_declared_in_argument_specs():
    import yaml

    from sovctl.paths import project_root

    for role, spec in role_specs().items():
        defaults = project_root() / "roles" / role / "defaults" / "main.yml"
        declared = set(yaml.safe_load(defaults.read_text()) or {})
        missing = declared - set(spec)
        assert not missing, f"roles/{role}: {sorted(missing)} not in meta/argument_specs.yml"


def test_valid_inventory_has_no_problems(make_inventory):
    inv = make_inventory({"group_vars/turn/main.yml": "coturn_allowed_peer_ips: [192.0.2.10]\n"})
    assert validate(load_inventory(inv)) == []


def test_wrong_list_type_is_reported_with_file_and_fix(make_inventory):
    inv = make_inventory({"group_vars/turn/main.yml": "coturn_allowed_peer_ips: {a: 1}\n"})
    problems = validate(load_inventory(inv))
    assert len(problems) == 1
    p = problems[0]
    assert p.file.endswith("group_vars/turn/main.yml")
    assert p.field == "coturn_allowed_peer_ips (host turn1)"
    assert "list" in p.hint


def test_choices_are_enforced(make_inventory):
    inv = make_inventory({"group_vars/turn/main.yml": "tls_mode: letsencrypt\n"})
    problems = validate(load_inventory(inv))
    assert problems and "internal" in problems[0].hint


def test_unknown_provider_lists_the_catalogue(make_inventory):
    inv = make_inventory({"host_vars/turn1.yml": "sov_provider: ovh\n"})
    problems = validate(load_inventory(inv))
    assert problems[0].file.endswith("host_vars/turn1.yml")
    assert problems[0].field == "sov_provider (host turn1)"
    assert "ovhcloud" in problems[0].hint


def test_unknown_region_of_a_known_provider(make_inventory):
    inv = make_inventory({"host_vars/turn1.yml": "sov_region: us-east-1\n"})
    problems = validate(load_inventory(inv))
    assert problems[0].field == "sov_region (host turn1)"
    assert "gra" in problems[0].hint


def test_duplicate_port_on_one_host(make_inventory):
    inv = make_inventory({"group_vars/turn/main.yml": "coturn_tls_listening_port: 3478\n"})
    problems = validate(load_inventory(inv))
    assert len(problems) == 1
    assert problems[0].file.endswith("group_vars/turn/main.yml")
    assert "port 3478 is claimed by coturn_listening_port and coturn_tls_listening_port" in \
        problems[0].message


def test_missing_secret_names_the_vault_and_the_fix(make_inventory):
    inv = make_inventory(with_secrets=False)
    problems = validate(load_inventory(inv))
    assert [p.field for p in problems] == ["vault_coturn_static_auth_secret",
                                           "vault_tls_ca_passphrase"]
    assert problems[0].file.endswith("group_vars/all/vault.yml")
    assert "sovctl secrets ensure" in problems[0].hint


def test_templates_sovctl_never_evaluates_are_not_its_to_refuse(make_inventory):
    """Another tool's own variables (molecule writes lookups into the inventories it
    generates) are never evaluated by sovctl or its roles: check and deploy accept them.
    A lookup that a sovctl variable refers to is still refused, naming that variable."""
    foreign = make_inventory({"group_vars/all/tool.yml": """
        molecule_file: "{{ lookup('env', 'MOLECULE_FILE') }}"
        molecule_yml: "{{ lookup('file', molecule_file) | from_yaml }}"
    """}, name="foreign")
    assert validate(load_inventory(foreign)) == []
    used = make_inventory({"group_vars/all/tool.yml": """
        my_country: "{{ lookup('pipe', 'echo FR') }}"
        sov_country: "{{ my_country }}"
    """}, name="used")
    problems = validate(load_inventory(used))
    assert [p.field for p in problems] == ["my_country (host turn1)"], problems
    assert "calls lookup()" in problems[0].message


def test_audit_agrees_on_templates_sovctl_never_evaluates(make_inventory):
    from click.testing import CliRunner

    from sovctl.cli import cli

    foreign = make_inventory({"group_vars/all/tool.yml": """
        molecule_file: "{{ lookup('env', 'MOLECULE_FILE') }}"
    """}, name="foreign")
    assert CliRunner().invoke(cli, ["audit", "-i", str(foreign)]).exit_code in (0, 1)
    used = make_inventory({"group_vars/all/tool.yml": """
        my_country: "{{ lookup('pipe', 'echo FR') }}"
        sov_country: "{{ my_country }}"
    """}, name="used")
    result = CliRunner().invoke(cli, ["audit", "-i", str(used)])
    assert result.exit_code == 2 and "my_country" in result.output, result.output


def test_deploy_runs_lookups_of_the_operators_own_inventory_check_refuses_them(make_inventory):
    """An operator's inventory may read a mirror URL from the environment: Ansible, which
    deploy runs, evaluates it anyway. check and audit never run it and refuse it."""
    inv = load_inventory(make_inventory({"group_vars/all/mirror.yml": """
        sov_artifact_mirror: "{{ lookup('env', 'SOVCTL_TEST_MIRROR_URL') }}"
    """}, name="envlookup"))
    assert validate(inv, templates=False) == []
    assert [p.field for p in validate(inv)] == ["sov_artifact_mirror (host turn1)"]
