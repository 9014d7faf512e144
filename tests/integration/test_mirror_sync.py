"""`sovctl mirror sync` for real: the Keycloak zips from Maven Central and the LiveKit
server built from the Go module proxy with the pinned toolchain.

Uses the ordinary cache (~/.cache/sovctl, or SOVCTL_CACHE_DIR), keyed by sha256: the
first run downloads about 340 MB and builds LiveKit (a few minutes), later runs only
verify the cached files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from sovctl import mirror

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def catalogue():
    return mirror.load_catalogue()


@pytest.fixture(scope="module")
def synced(tmp_path_factory, catalogue):
    out = tmp_path_factory.mktemp("mirror")
    result = mirror.sync(out, catalogue=catalogue, log=lambda m: print(m, file=sys.stderr))
    return result


def test_every_artifact_is_in_the_mirror_with_its_sha256(synced, catalogue):
    assert {e.artifact.ref for e in synced.in_mirror} == {a.ref for a in catalogue.artifacts}
    for a in catalogue.artifacts:
        path = synced.directory / a.name / a.version / a.filename
        assert mirror.sha256_file(path) == a.sha256, a.ref
        assert (path.parent / f"{a.filename}.sha256").read_text().split()[0] == a.sha256


def test_keycloak_came_from_maven_central_and_livekit_from_a_go_build(synced):
    cache = mirror.Cache()
    for entry in synced.in_mirror:
        origin = cache.provenance(entry.artifact.sha256)
        if entry.artifact.name == "keycloak":
            assert origin["source"].startswith("maven org.keycloak:keycloak-quarkus-dist:")
            assert origin["url"].startswith("https://repo1.maven.org/maven2/")
        if entry.artifact.name == "livekit-server":
            assert origin["source"].startswith(
                "go-module github.com/livekit/livekit-server/cmd/server@v1.13.5")
            assert origin["go"] == "go1.26.8"
            assert origin["flags"] == ["CGO_ENABLED=0", "-trimpath", "-buildvcs=false"]


def test_maven_central_publishes_the_catalogued_sha256(catalogue):
    for a in catalogue.select(["keycloak"]):
        (src,) = [s for s in a.sources if s["kind"] == "maven"]
        url = mirror.maven_url(src["coordinates"]) + ".sha256"
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - Maven Central
            published = resp.read().decode().split()[0]
        assert published == a.sha256, a.ref


def test_sbom_names_each_component_version_source_and_hash(synced, catalogue):
    bom = json.loads(synced.sbom.read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
    comps = {(c["name"], c["version"]): c for c in bom["components"]}
    for a in catalogue.artifacts:
        c = comps[a.name, a.version]
        assert c["hashes"] == [{"alg": "SHA-256", "content": a.sha256}]
        assert c["purl"] == mirror.purl(a)
    kc = comps["keycloak", catalogue.get("keycloak").version]
    assert kc["purl"].startswith("pkg:maven/org.keycloak/keycloak-quarkus-dist@")
    assert any(r["url"].startswith("https://repo1.maven.org/") for r in kc["externalReferences"])
    lk = comps["livekit-server", "1.13.5"]
    assert lk["purl"] == "pkg:golang/github.com/livekit/livekit-server@v1.13.5#cmd/server"
    props = {p["name"]: p["value"] for p in lk["properties"]}
    assert props["sovctl:go-toolchain"] == "go1.26.8"
    assert props["sovctl:build-flags"] == "CGO_ENABLED=0 -trimpath -buildvcs=false"
    deps = {d["name"]: d["version"] for d in lk["components"]}
    assert deps["stdlib"] == "go1.26.8"
    assert deps["github.com/pion/webrtc/v4"].startswith("v4.")
    manifest = json.loads(synced.manifest.read_text())
    assert {(m["name"], m["version"], m["sha256"]) for m in manifest["artifacts"]} == \
        {(a.name, a.version, a.sha256) for a in catalogue.artifacts}


def test_sbom_names_the_commit_livekit_was_built_from(synced, catalogue):
    """The VCS commit comes from the Go module proxy's .info (its Origin): the SBOM names it
    when the proxy published one, and never invents one when it did not."""
    lk = catalogue.get("livekit-server")
    origin = mirror.Cache().provenance(lk.sha256).get("origin") or {}
    bom = json.loads(synced.sbom.read_text())
    (component,) = [c for c in bom["components"]
                    if (c["name"], c["version"]) == (lk.name, lk.version)]
    vcs = [r for r in component.get("externalReferences", []) if r["type"] == "vcs"]
    if not origin.get("URL"):
        assert vcs == [], f"a VCS reference the proxy did not publish: {vcs}"
        pytest.skip(f"the Go module proxy this machine reaches published no Origin (VCS commit) "
                    f"for {lk.name} {lk.version}, so the SBOM cannot name the commit")
    assert origin["URL"] == "https://github.com/livekit/livekit-server"
    assert vcs == [{"type": "vcs", "url": origin["URL"],
                    "comment": f"commit {origin['Hash']}"}], component


def test_the_livekit_binary_runs(synced):
    if mirror.host_platform() != "linux-amd64":
        pytest.skip("the catalogued LiveKit build is linux-amd64")
    binary = synced.directory / "livekit-server/1.13.5/livekit-server-linux-amd64"
    binary.chmod(0o755)
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert "1.13.5" in out


def test_a_second_sync_is_served_from_the_cache(synced, tmp_path):
    start = time.monotonic()
    again = mirror.sync(tmp_path / "again", log=lambda m: None)
    assert {e.status for e in again.entries} == {"cached"}
    assert time.monotonic() - start < 60
