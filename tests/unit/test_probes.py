"""The probes library: outcomes, evidence, subjects made once, clean-up, and verify's table."""

from __future__ import annotations

from collections import Counter

from sovctl.commands import verify
from sovctl.probes import Failed, Run, Skipped, Suite, expect


def _suite(log: list[str]) -> Suite:
    suite = Suite("demo", "demo_group", targets=lambda: ["h1", "h2"])

    @suite.subject
    def subject(run, host):
        log.append(f"made {host}")
        if host == "broken":
            raise Failed(f"{host}: no secret in the inventory")
        yield {"name": host}
        log.append(f"cleaned {host}")

    @suite.probe
    def answers(subject):
        return f"{subject['name']} answered 200"

    @suite.probe(params={"tls1.0": {"version": "1.0"}, "tls1.2": {"version": "1.2"}})
    def handshake(subject, version):
        expect(version == "1.2", f"{subject['name']} completed a TLS {version} handshake")
        return f"TLS {version}"

    @suite.probe
    def needs_a_client(subject):
        raise Skipped("turnutils_uclient is not installed here (apt install coturn)")

    @suite.probe
    def crashes(subject):
        return subject["missing"]

    return suite


def test_each_case_has_its_outcome_and_evidence(tmp_path):
    log: list[str] = []
    suite = _suite(log)
    with Run(tmp_path) as run:
        results = {r.probe: r for r in suite.run(run, ["h1"])}
    assert {p: r.outcome for p, r in results.items()} == {
        "answers": "passed", "handshake[tls1.0]": "failed", "handshake[tls1.2]": "passed",
        "needs_a_client": "skipped", "crashes": "failed"}
    assert results["answers"].evidence == "h1 answered 200"
    assert results["handshake[tls1.0]"].evidence == "h1 completed a TLS 1.0 handshake"
    assert "apt install coturn" in results["needs_a_client"].evidence
    assert results["crashes"].evidence == "KeyError: 'missing'"
    assert all(r.host == "h1" and r.service == "demo" for r in results.values())
    # The subject is made once for the host's five cases and cleaned up when the run ends.
    assert log == ["made h1", "cleaned h1"]


def test_a_subject_that_cannot_be_made_fails_each_probe_with_its_evidence_once(tmp_path):
    log: list[str] = []
    with Run(tmp_path) as run:
        results = list(_suite(log).run(run, ["broken"]))
    assert {r.outcome for r in results} == {"failed"}
    assert {r.evidence for r in results} == {"broken: no secret in the inventory"}
    assert log == ["made broken"]


def test_parameter_sets_may_depend_on_the_host(tmp_path, monkeypatch):
    suite = Suite("demo", "demo_group", targets=lambda: ["edge1", "turn1"])
    ports = {"edge1": [443], "turn1": [443, 5349]}

    @suite.probe(params=lambda host: {str(p): {"port": p} for p in ports[host]})
    def tls(subject, port):
        return f"{subject}:{port}"

    with Run(tmp_path) as run:
        found = [(r.host, r.probe, r.evidence) for r in suite.run(run)]
    assert found == [("edge1", "tls[443]", "edge1:443"), ("turn1", "tls[443]", "turn1:443"),
                     ("turn1", "tls[5349]", "turn1:5349")]
    # A host with no parameter set has no case of that probe (never one without its port).
    ports["mon1"] = []
    assert [c.id for c in suite.cases(["mon1", "edge1"])] == ["edge1-tls[443]"]
    # Without an inventory there is nothing to examine: collecting needs no hosts.
    monkeypatch.delenv("SOVCTL_VERIFY_INVENTORY", raising=False)
    monkeypatch.delenv("MOLECULE_INVENTORY_FILE", raising=False)
    assert suite.hosts() == [] and suite.cases() == []


def test_a_run_sets_the_inventory_for_the_probes_and_restores_the_environment(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SOVCTL_VERIFY_INVENTORY", "/elsewhere")
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    import os

    with Run(tmp_path, env={"ANSIBLE_VAULT_PASSWORD_FILE": "/p"}):
        assert os.environ["SOVCTL_VERIFY_INVENTORY"] == str(tmp_path)
        assert os.environ["ANSIBLE_VAULT_PASSWORD_FILE"] == "/p"
    assert os.environ["SOVCTL_VERIFY_INVENTORY"] == "/elsewhere"
    assert "ANSIBLE_VAULT_PASSWORD_FILE" not in os.environ


def test_verify_counts_probe_outcomes_per_host_and_prints_what_did_not_pass(
        tmp_path, monkeypatch):
    suite = _suite([])
    monkeypatch.setattr(verify, "probe_suite", lambda module: suite)

    class Inv:
        vault_password_file = None

    lines: list[str] = []
    results = verify.run_probes(tmp_path, Inv(), ["demo"], echo=lines.append)
    table = verify.tabulate(results, ["demo", "hardening"])
    assert table == {**{(h, "demo"): Counter(passed=2, failed=2, skipped=1) for h in ("h1", "h2")},
                     ("-", "hardening"): Counter()}
    assert "FAILED h2 demo handshake[tls1.0]: h2 completed a TLS 1.0 handshake" in lines
    assert any(line.startswith("SKIPPED h1 demo needs_a_client: ") for line in lines)
    assert verify.verdict(table[("h1", "demo")]) == "FAIL"
    assert verify.verdict(table[("-", "hardening")]) == "NOTHING CHECKED"
    assert verify.exit_code(table) == 1


def test_results_as_prometheus_metrics(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from sovctl.probes.metrics import write_textfile

    with Run(tmp_path) as run:
        results = list(_suite([]).run(run, ["h1"]))
    prom = tmp_path / "sovctl.prom"
    write_textfile(prom, results, now=1_700_000_000)
    samples = {(s.name, s.labels.get("probe")): s.value
               for family in text_string_to_metric_families(prom.read_text())
               for s in family.samples}
    assert samples[("sovctl_probe_success", "answers")] == 1
    assert samples[("sovctl_probe_success", "handshake[tls1.0]")] == 0
    assert samples[("sovctl_probe_success", "crashes")] == 0
    # A skipped probe checked nothing: never a success sample, a skipped one instead.
    assert ("sovctl_probe_success", "needs_a_client") not in samples
    assert samples[("sovctl_probe_skipped", "needs_a_client")] == 1
    assert ("sovctl_probe_duration_seconds", "answers") in samples
    assert samples[("sovctl_verify_last_run_timestamp_seconds", None)] == 1_700_000_000
    assert not list(tmp_path.glob("*.tmp*")), "the file is replaced atomically"


def test_verify_refuses_a_metrics_file_in_no_directory(tmp_path):
    from click.testing import CliRunner

    from sovctl import cli
    from sovctl.errors import EXIT_BAD_INPUT

    result = CliRunner().invoke(cli.cli, ["verify", "-i", str(tmp_path),
                                          "--metrics", str(tmp_path / "nowhere" / "x.prom")])
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "--metrics" in result.output and "nowhere" in result.output
