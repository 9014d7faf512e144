"""The synthetic probes' runner (sovctl/probes/synthetic.py): its targets file, a probe's
outcome as Prometheus reads it, a hanging probe cut off. The probes themselves run against
the real services in the stack scenario (molecule/stack/tests/test_monitoring.py)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sovctl.probes import Failed, synthetic


@pytest.fixture()
def server():
    """A meeting app's health page on loopback: /healthz answers with ``state["status"]``."""
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            code = state["status"] if self.path == "/healthz" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"database unreachable")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()


def _metrics(outcomes) -> str:
    collector = synthetic.Collector()
    collector.outcomes, collector.finished = outcomes, 1700000000.0
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_a_passing_and_a_failing_health_page_become_1_and_0(server):
    url, state = server
    config = {"meet": [{"name": "meet.example.org", "url": url}]}
    passed = synthetic.run_once(config)
    state["status"] = 503
    failed = synthetic.run_once(config)
    assert [(o.ok, o.evidence) for o in passed] == [(True, f"{url}/healthz: 200")]
    assert not failed[0].ok and "503" in failed[0].evidence
    text = _metrics(failed)
    assert ('sovctl_synthetic_success{probe="health",service="meet",'
            'target="meet.example.org"} 0.0') in text
    assert "sovctl_synthetic_last_run_timestamp_seconds 1.7e+09" in text
    assert "sovctl_synthetic_success" in _metrics(passed) and \
        'target="meet.example.org"} 1.0' in _metrics(passed)


def test_an_unreachable_service_fails_with_the_reason(server):
    url, _state = server
    dead = url.rsplit(":", 1)[0] + ":9"  # discard: nothing listens
    [outcome] = synthetic.run_once({"meet": [{"name": "m", "url": dead}]})
    assert not outcome.ok and "ConnectionError" in outcome.evidence


def test_a_hanging_probe_is_cut_off(monkeypatch):
    monkeypatch.setattr(synthetic, "PROBE_TIMEOUT", 0.5)
    start = time.monotonic()
    ok, evidence = synthetic._run_one(lambda _t: time.sleep(5) or "never", {})
    assert not ok and evidence.startswith("no answer within"), evidence
    assert time.monotonic() - start < 2


def test_no_targets_no_samples():
    assert synthetic.run_once({"interval": 60}) == []
    assert "sovctl_synthetic_success{" not in _metrics([])


def test_a_target_without_a_name_is_refused(tmp_path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"turn": [{"address": "10.0.0.1"}]}))
    with pytest.raises(Failed, match="every entry of 'turn' needs a name"):
        synthetic.load(path)


def test_main_refuses_an_unreadable_targets_file(tmp_path, capsys):
    assert synthetic.main([str(tmp_path / "missing.json")]) == 78
    assert "missing.json" in capsys.readouterr().err
