"""What a mirror says about itself: ``manifest.json`` and the CycloneDX 1.5 SBOM."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sovctl import __version__
from sovctl.mirror.cache import sha256_file
from sovctl.mirror.sources import maven_url, purl, source_label

if TYPE_CHECKING:  # syncing imports this module: these are only types here
    from sovctl.mirror.catalogue import Catalogue
    from sovctl.mirror.syncing import SyncEntry

MANIFEST_NAME = "manifest.json"
SBOM_NAME = "sbom.cdx.json"


def build_manifest(entries: Sequence[SyncEntry], catalogue: Catalogue) -> dict:
    return {
        "format": 1,
        "generator": f"sovctl {__version__}",
        "layout": "<name>/<version>/<filename>",
        "catalogue_sha256": sha256_file(catalogue.path),
        "artifacts": [{
            "name": e.artifact.name,
            "version": e.artifact.version,
            "path": e.artifact.path,
            "sha256": e.artifact.sha256,
            "format": e.artifact.format,
            "purl": purl(e.artifact),
            "sources": [source_label(s) for s in e.artifact.sources],
            "obtained_from": e.provenance.get("source", ""),
        } for e in entries],
    }


def build_sbom(entries: Sequence[SyncEntry], timestamp: datetime | None = None) -> dict:
    """A CycloneDX 1.5 SBOM of the mirror: one component per artifact, Go modules nested."""
    components = []
    for e in entries:
        a = e.artifact
        ref = purl(a)
        component: dict[str, Any] = {
            "type": "application",
            "bom-ref": ref,
            "name": a.name,
            "version": a.version,
            "purl": ref,
            "hashes": [{"alg": "SHA-256", "content": a.sha256}],
        }
        if a.description:
            component["description"] = a.description
        if a.license:
            component["licenses"] = [{"license": {"id": a.license}}]
        refs = []
        for src in a.sources:
            if src["kind"] == "url":
                refs.append({"type": "distribution", "url": src["url"]})
            elif src["kind"] == "maven":
                refs.append({"type": "distribution", "url": maven_url(src["coordinates"])})
        origin = e.provenance.get("origin") or {}
        if origin.get("URL"):
            vcs = {"type": "vcs", "url": origin["URL"]}
            if origin.get("Hash"):
                vcs["comment"] = f"commit {origin['Hash']}"
            refs.append(vcs)
        if refs:
            component["externalReferences"] = refs
        props = [{"name": "sovctl:mirror-path", "value": a.path},
                 {"name": "sovctl:format", "value": a.format}]
        props += [{"name": "sovctl:source", "value": source_label(s)} for s in a.sources]
        if e.provenance.get("source"):
            props.append({"name": "sovctl:obtained-from", "value": e.provenance["source"]})
        if a.platform:
            props.append({"name": "sovctl:platform", "value": a.platform})
        if e.provenance.get("go"):
            props.append({"name": "sovctl:go-toolchain", "value": e.provenance["go"]})
            props.append({"name": "sovctl:build-flags",
                          "value": " ".join(e.provenance.get("flags", []))})
        component["properties"] = props
        deps = e.provenance.get("deps") or []
        if e.provenance.get("go"):
            go_version = e.provenance["go"]
            component["components"] = [{
                "type": "library", "bom-ref": f"{ref}|stdlib", "name": "stdlib",
                "version": go_version, "purl": f"pkg:golang/stdlib@{go_version}"}]
        for dep in deps:
            sub = {"type": "library",
                   "bom-ref": f"{ref}|pkg:golang/{dep['path']}@{dep['version']}",
                   "name": dep["path"], "version": dep["version"],
                   "purl": f"pkg:golang/{dep['path']}@{dep['version']}"}
            if dep.get("sum"):
                sub["properties"] = [{"name": "sovctl:go-sum", "value": dep["sum"]}]
            component.setdefault("components", []).append(sub)
        components.append(component)
    when = timestamp or datetime.now(UTC)
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "sovctl",
                                      "version": __version__}]},
            "component": {"type": "application", "bom-ref": "sovctl-artifact-mirror",
                          "name": "sovctl artifact mirror", "version": __version__},
        },
        "components": components,
        "dependencies": [{"ref": "sovctl-artifact-mirror",
                          "dependsOn": [c["bom-ref"] for c in components]}],
    }
