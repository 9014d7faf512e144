"""Collabora Online, checked as a browser and a WOPI host would meet it, through the nginx edge.

Where Collabora's package source was unreachable when the host was converged (the role
then records why, in /etc/sovctl/collabora/package-source.json), coolwsd is not
installed: every check that needs it is skipped with the unreachable source named in the
reason, and every check that does not (rendered settings, nginx, TLS, CSP, routing,
firewall) still runs.

How the checks reach the hosts and speak to the edge is in ``collabora_client.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from sovctl.probes import context
from sovctl.probes.collabora_client import (
    ALIAS_GROUPS,
    BASIC_AUTH_STATUS,
    HEADER_PROBE,
    Rendered,
    edge_get,
    office_address,
    office_host,
    open_websocket,
    probed_heads,
    upgrade_headers,
    wopi_src,
    ws_path,
)

OFFICE_HOSTS = context.host_names("office")
pytestmark = pytest.mark.skipif(not OFFICE_HOSTS, reason="no host in group 'office'")

STATE_DIR = "/etc/sovctl/collabora"
SETTINGS = f"{STATE_DIR}/coolwsd-settings.xml"
DECISION = f"{STATE_DIR}/package-source.json"
CHECKER = "/usr/local/libexec/sovctl/collabora-config-check"
COOLWSD_XML = "/etc/coolwsd/coolwsd.xml"
UPSTREAM_PORT = 9980
# File types whose edit action Collabora's discovery must list.
EDITABLE = {"odt", "docx", "ods", "xlsx", "odp", "pptx"}
NOT_ALLOWED_WOPI = "https://wopi-not-allowed.invalid"


@pytest.fixture(scope="module", params=OFFICE_HOSTS)
def office(request):
    inv_host = context.inventory().hosts[request.param]
    host = office_host(request.param)
    address = office_address(request.param, host)
    base = context.resolve(inv_host, "collabora_hostname") or ""
    if not base or "{{" in base:
        base = f"https://{address}"
    decision_file = host.file(DECISION)
    decision = json.loads(decision_file.content_string) if decision_file.exists else {}
    ca = context.internal_ca(host)
    wopi = inv_host.vars.get("collabora_wopi_hosts") or []
    with context.ca_bundle(ca) as verify:
        yield {
            "name": request.param, "host": host, "address": address, "base": base.rstrip("/"),
            "verify": verify, "ca": ca, "decision": decision,
            "installed": host.run(
                "dpkg-query --show --showformat='${Status}' coolwsd").stdout.endswith("installed"),
            "wopi": [] if "{{" in str(wopi) else [
                {"url": str(w["url"]).rstrip("/"), "aliases": list(w.get("aliases") or [])}
                if isinstance(w, dict) else {"url": str(w).rstrip("/"), "aliases": []}
                for w in wopi],
            "admin_user": inv_host.vars.get("collabora_admin_user", "sovctl-admin"),
            "admin_password": context.resolve(inv_host, "collabora_admin_password")
            or context.resolve(inv_host, "vault_collabora_admin_password"),
            "expose_admin": bool(inv_host.vars.get("collabora_expose_admin_console", False)),
            "expose_conversion": bool(inv_host.vars.get("collabora_expose_conversion_api",
                                                        False)),
            "vars": inv_host.vars,
        }


def needs_coolwsd(office, what: str) -> None:
    """Skip, naming the unreachable package source, when coolwsd is not installed."""
    if office["installed"]:
        return
    d = office["decision"]
    if d and not d.get("available", True):
        pytest.skip(f"{what}: needs Collabora Online, not installed on {office['name']} because "
                    f"its package source {d.get('probe_url')} was unreachable "
                    f"({d.get('status')}) when the host was converged")
    pytest.skip(f"{what}: needs Collabora Online, which is not installed on {office['name']}")


# --------------------------------------------------------------------------
# The settings sovctl applies to coolwsd.xml, as rendered on the host


@pytest.fixture(scope="module")
def rendered(office):
    f = office["host"].file(SETTINGS)
    assert f.exists, f"{SETTINGS} is missing on {office['name']}: the role did not run"
    return Rendered(f.content_string)


def test_package_source_decision_is_recorded_and_nothing_is_faked(office):
    d = office["decision"]
    assert d, f"{DECISION} is missing on {office['name']}"
    assert d["probe_url"].startswith(d["repository"].rstrip("/"))
    if d["available"]:
        assert not d["skipped"]
        return
    # Not available: nothing of Collabora may be on the host, and the skip is stated.
    assert "package install" in d["skipped"]
    assert not office["installed"]
    assert not office["host"].file(COOLWSD_XML).exists
    assert not office["host"].exists("coolwsd")


def test_settings_file_is_well_formed_and_passes_the_checker(office):
    h = office["host"]
    f = h.file(SETTINGS)
    assert f.user == "root" and f.mode & 0o077 == 0, "holds the admin hash: root only"
    h.run_expect([0], f"xmllint --noout {SETTINGS}")
    h.run_expect([0], f"{CHECKER} settings {SETTINGS}")


def test_tls_is_terminated_by_nginx(rendered):
    assert rendered.values["/config/ssl/enable"] == "false"
    assert rendered.values["/config/ssl/termination"] == "true"
    assert rendered.values["/config/net/listen"] == "loopback"


def test_each_wopi_host_of_the_inventory_has_its_alias_group(office, rendered):
    if not office["wopi"]:
        pytest.skip("collabora_wopi_hosts is templated in this inventory")
    assert rendered.attrs[(ALIAS_GROUPS, "mode")] == "groups"
    assert [g["url"] for g in rendered.groups] == [w["url"] for w in office["wopi"]]
    assert all(g["allow"] == "true" for g in rendered.groups)
    assert [g["aliases"] for g in rendered.groups] == [w["aliases"] for w in office["wopi"]]


def test_frame_ancestors_are_the_wopi_hosts(office, rendered):
    if not office["wopi"]:
        pytest.skip("collabora_wopi_hosts is templated in this inventory")
    assert rendered.values["/config/net/frame_ancestors"].split() == [
        w["url"] for w in office["wopi"]]


def _pbkdf2_matches(secure_password: str, password: str) -> bool:
    kind, digest, iterations, salt, expected = secure_password.split(".")
    assert (kind, digest) == ("pbkdf2", "sha512")
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), bytes.fromhex(salt), int(iterations),
                              len(bytes.fromhex(expected)))
    return got.hex() == expected


def test_admin_console_credentials_come_from_the_vault(office, rendered):
    password = office["admin_password"]
    if not password or "{{" in password:
        pytest.skip("the admin password is not readable from this inventory's vault")
    secure = rendered.values["/config/admin_console/secure_password"]
    assert rendered.values["/config/admin_console/username"] == office["admin_user"]
    assert _pbkdf2_matches(secure, password), "the hash is not of the vault's password"
    assert not _pbkdf2_matches(secure, password + "x")
    assert password not in office["host"].file(SETTINGS).content_string


def test_text_services_are_the_audited_variables(office, rendered):
    """LanguageTool and DeepL are on exactly when their registry variable holds a URL."""
    for service, var, key in (("languagetool", "collabora_languagetool_url", "base_url"),
                              ("deepl", "collabora_deepl_url", "api_url")):
        url = office["vars"].get(var, "")
        if "{{" in str(url):
            continue
        assert rendered.values[f"/config/{service}/enabled"] == ("true" if url else "false")
        assert rendered.values[f"/config/{service}/{key}"] == url


def test_limits_are_sized_from_the_host(office, rendered):
    v = office["vars"]
    h = office["host"]
    vcpus = int(h.check_output("grep -c ^processor /proc/cpuinfo"))
    mem_mb = int(h.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024
    capacity = int(v.get("collabora_capacity_users") or max(1, min(10 * vcpus,
                                                                    (mem_mb - 1024) // 100)))
    expected = {
        "/config/num_prespawn_children": v.get("collabora_prespawn_children",
                                               max(1, min(4, capacity // 25))),
        "/config/per_document/max_concurrency": v.get("collabora_max_concurrency",
                                                      max(1, min(4, vcpus))),
        "/config/per_document/cleanup/limit_dirty_mem_mb": v.get(
            "collabora_document_memory_limit_mb", max(512, min(3072, mem_mb // 8))),
        "/config/memproportion": v.get("collabora_memory_proportion", 80),
    }
    for xpath, want in expected.items():
        if "{{" in str(want):
            continue
        assert rendered.values[xpath] == str(want), f"{xpath} ({vcpus} vCPU, {mem_mb} MB)"


# --------------------------------------------------------------------------
# The nginx edge in front of coolwsd: config, TLS, headers, routing


def test_nginx_configuration_is_valid(office):
    office["host"].run_expect([0], "nginx -t -q")


def test_tls_handshake_verifies_against_the_deployment_ca(office):
    if not office["ca"]:
        pytest.skip("no internal CA on the host (tls_mode external): checked by the ACME client")
    ctx = ssl.create_default_context(cadata=office["ca"])
    ctx.check_hostname = False  # test hosts are reached by address; SAN checked below
    port = urlsplit(office["base"]).port or 443
    with socket.create_connection((office["address"], port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        cert, version = tls.getpeercert(), tls.version()
    sans = {v for _k, v in cert.get("subjectAltName", ())}
    assert office["name"] in sans or office["address"] in sans
    assert version in ("TLSv1.2", "TLSv1.3")


def test_plain_http_is_redirected_to_https(office):
    import requests

    r = requests.get(f"http://{urlsplit(office['base']).hostname}/hosting/discovery",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"].startswith("https://")


def test_csp_lets_the_wopi_hosts_embed_the_editor_and_never_none(office):
    r = edge_get(office, "/browser/dist/cool.html")
    csp = r.headers.get("Content-Security-Policy", "")
    # Several policies (nginx's, coolwsd's own) arrive comma-joined; browsers enforce each.
    directives = [d.split()[1:] for policy in csp.split(",") for d in policy.split(";")
                  if d.split()[:1] == ["frame-ancestors"]]
    assert directives, f"no frame-ancestors in {csp!r}"
    for ancestors in directives:
        assert "'none'" not in ancestors, csp
        for w in office["wopi"]:
            assert w["url"] in ancestors, f"{w['url']} may not embed the editor: {csp!r}"
    assert "X-Frame-Options" not in r.headers, "X-Frame-Options would block the WOPI hosts"
    assert "max-age=" in r.headers.get("Strict-Transport-Security", "")


ROUTED = ["/hosting/discovery", "/hosting/capabilities", "/browser/dist/cool.html",
          "/cool/ws-path", "/cool/some/request"]


@pytest.mark.parametrize("path", ROUTED)
def test_collabora_paths_are_proxied_to_coolwsd(office, path):
    """Without coolwsd nginx answers 502 (it tried the upstream); with it, coolwsd answers."""
    headers = {}
    if path == "/cool/ws-path":
        if office["installed"]:
            pytest.skip("a real websocket: checked by the handshake test")
        origin = office["wopi"][0]["url"] if office["wopi"] else "https://wopi.invalid"
        path = ws_path(wopi_src(origin))
        headers = upgrade_headers()
    r = edge_get(office, path, headers=headers)
    if office["installed"]:
        assert r.status_code != 502, f"{path}: nginx could not reach coolwsd"
    else:
        assert r.status_code == 502, f"{path}: {r.status_code} (expected nginx's 502: no coolwsd)"


DENIED = [("/cool/adminws", "admin"), ("/browser/dist/admin/admin.html", "admin"),
          ("/cool/getMetrics", "admin"), ("/cool/convert-to/pdf", "conversion"),
          ("/cool/extract-link-targets", "conversion")]


@pytest.mark.parametrize(("path", "kind"), DENIED, ids=[p for p, _ in DENIED])
def test_admin_and_conversion_endpoints_are_not_proxied(office, path, kind):
    if office[f"expose_{kind}"]:
        pytest.skip(f"collabora_expose_{'admin_console' if kind == 'admin' else 'conversion_api'}"
                    " is true in this inventory")
    assert edge_get(office, path).status_code == 404


def test_nginx_upgrades_only_the_document_websocket(office):
    """What nginx forwards upstream: Upgrade on /cool/.../ws, never on discovery."""
    if office["installed"]:
        pytest.skip("coolwsd holds the upstream port: the real websocket handshake is checked")
    h = office["host"]
    if h.run(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'").stdout.strip():
        pytest.skip(f"something listens on {UPSTREAM_PORT} on {office['name']}")
    script, out = "/tmp/sovctl-header-probe.py", "/tmp/sovctl-header-probe.out"  # noqa: S108
    encoded = base64.b64encode(HEADER_PROBE.encode()).decode()
    h.run_expect([0], f"echo {encoded} | base64 -d > {script} && rm -f {out}")
    pid = h.check_output(f"nohup timeout 40 python3 {script} 127.0.0.1 {UPSTREAM_PORT} {out} 2 "
                         ">/dev/null 2>&1 & echo $!")
    try:
        for _ in range(50):
            if h.run(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'").stdout.strip():
                break
            time.sleep(0.1)
        origin = office["wopi"][0]["url"] if office["wopi"] else "https://wopi.invalid"
        document_ws = ws_path(wopi_src(origin))
        upgrade = upgrade_headers()
        assert edge_get(office, document_ws, headers=upgrade).status_code == 503
        assert edge_get(office, "/hosting/discovery", headers=upgrade).status_code == 503
        for _ in range(50):
            heads = probed_heads(h.file(out).content_string if h.file(out).exists else "")
            if len(heads) >= 2:
                break
            time.sleep(0.1)
    finally:
        h.run(f"kill {pid} 2>/dev/null; rm -f {script}")
    ws = heads.get(document_ws)
    assert ws is not None, f"nginx did not forward {document_ws} unchanged: {sorted(heads)}"
    assert ws.get("upgrade") == "websocket" and ws.get("connection", "").lower() == "upgrade"
    assert ws.get("x-forwarded-proto") == "https"
    disc = heads.get("/hosting/discovery")
    assert disc is not None and "upgrade" not in disc and disc.get("connection") == "close"


def test_only_the_edge_ports_are_declared_and_open(office):
    h = office["host"]
    declared = h.file("/etc/sovctl/firewall-declared.json")
    if not declared.exists:
        pytest.skip("the firewall playbook has not run on this host")
    ports = {str(p["port"]) for p in json.loads(declared.content_string)}
    assert {"80", "443"} <= ports
    assert str(UPSTREAM_PORT) not in ports
    ruleset = h.check_output("nft list ruleset")
    assert re.search(r"tcp dport 443 accept", ruleset)
    assert str(UPSTREAM_PORT) not in ruleset


def test_coolwsd_port_is_not_reachable_from_outside(office):
    with pytest.raises(OSError):
        socket.create_connection((office["address"], UPSTREAM_PORT), timeout=3).close()


# --------------------------------------------------------------------------
# coolwsd itself (needs the package)


def test_coolwsd_is_running_enabled_and_on_loopback(office):
    needs_coolwsd(office, "coolwsd service")
    svc = office["host"].service("coolwsd")
    assert svc.is_running and svc.is_enabled
    listening = office["host"].check_output(f"ss -Hltn 'sport = :{UPSTREAM_PORT}'")
    assert listening and all(" 127.0.0.1:" in line or " [::1]:" in line
                             for line in listening.splitlines())


def test_live_coolwsd_xml_carries_the_managed_settings(office, rendered):
    needs_coolwsd(office, "coolwsd.xml settings")
    h = office["host"]
    h.run_expect([0], f"{CHECKER} coolwsd {COOLWSD_XML}")
    live = ET.fromstring(h.file(COOLWSD_XML).content_string)  # noqa: S314 - our test host
    for xpath, value in rendered.values.items():
        el = live.find(xpath.removeprefix("/config/"))
        assert (el.text or "" if el is not None else "") == value, xpath
    groups = live.find(ALIAS_GROUPS.removeprefix("/config/"))
    assert groups.get("mode") == "groups"
    assert [g.findtext("host") for g in groups.findall("group")] == [
        g["url"] for g in rendered.groups]


def test_discovery_lists_the_edit_actions_through_nginx(office):
    needs_coolwsd(office, "WOPI discovery through nginx")
    r = edge_get(office, "/hosting/discovery")
    assert r.status_code == 200
    root = ET.fromstring(r.content)  # noqa: S314 - the deployment's own discovery document
    edit = {a.get("ext"): a.get("urlsrc") for a in root.iter("action") if a.get("name") == "edit"}
    assert set(edit) >= EDITABLE, f"no edit action for {sorted(EDITABLE - set(edit))}"
    assert all(u.startswith(f"{office['base']}/browser/") for u in edit.values())


def test_capabilities_are_served_through_nginx(office):
    needs_coolwsd(office, "capabilities through nginx")
    r = edge_get(office, "/hosting/capabilities")
    assert r.status_code == 200 and isinstance(r.json(), dict)


def test_websocket_handshake_succeeds_through_nginx(office):
    needs_coolwsd(office, "websocket handshake through nginx")
    if not office["wopi"]:
        pytest.skip("collabora_wopi_hosts is templated in this inventory")
    status, _frames, _close = open_websocket(office, wopi_src(office["wopi"][0]["url"]),
                                             wait_s=3)
    assert status == 101


def test_wopi_host_not_in_the_list_is_refused(office):
    needs_coolwsd(office, "refusal of a WOPI host not in the list")
    status, frames, close = open_websocket(office, wopi_src(NOT_ALLOWED_WOPI))
    refused = status in (401, 403) or (status == 101 and (
        any("kind=unauthorized" in f for f in frames) or close == 1008))
    assert refused, f"status {status}, frames {frames[:3]}, close {close}"


def test_admin_console_accepts_the_vault_password_only(office):
    needs_coolwsd(office, "admin console login")
    if not office["admin_password"] or "{{" in office["admin_password"]:
        pytest.skip("the admin password is not readable from this inventory's vault")
    h = office["host"]
    url = f"http://127.0.0.1:{UPSTREAM_PORT}/browser/dist/admin/admin.html"
    user = office["admin_user"]
    assert h.check_output("python3 -c %s %s %s", BASIC_AUTH_STATUS, url,
                          f"{user}:not-the-password") == "401"
    assert h.check_output("python3 -c %s %s %s", BASIC_AUTH_STATUS, url,
                          f"{user}:{office['admin_password']}") == "200"
