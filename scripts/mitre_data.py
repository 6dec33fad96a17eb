"""Regenerate detections/data/mitre-attack.json and mitre-d3fend.json.

pySigma 2 downloads MITRE ATT&CK (STIX) and D3FEND (JSON-LD) from GitHub the first time a tag
validator runs; without internet, `sigma check` fails and the product's own validation drops
those validators. pySigma 0.11.23 was the last release to carry the tables in its code (ATT&CK
17.0, D3FEND 0.16.0): this script takes them from that wheel and writes the smallest documents
pySigma 2's loaders read (sigma.data.mitre_attack / mitre_d3fend `set_url` with a file path).

    .venv/bin/python scripts/mitre_data.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

WHEEL = "pysigma==0.11.23"
OUT = Path(__file__).resolve().parents[1] / "detections" / "data"


def _tables(wheel_dir: Path, module: str) -> dict[str, Any]:
    wheel = next(wheel_dir.glob("pysigma-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(f"sigma/data/{module}.py").decode()
    namespace: dict[str, Any] = {}
    exec(compile(source, module, "exec"), namespace)  # plain dict literals from a pinned wheel
    return namespace


def _ref(external_id: str) -> list[dict[str, str]]:
    return [{"source_name": "mitre-attack", "external_id": external_id}]


def attack_bundle(t: dict[str, Any]) -> dict[str, Any]:
    objects: list[dict[str, Any]] = [
        {"type": "x-mitre-collection", "x_mitre_version": t["mitre_attack_version"]}
    ]
    objects += [
        {"type": "x-mitre-tactic", "x_mitre_shortname": name, "external_references": _ref(tid)}
        for tid, name in t["mitre_attack_tactics"].items()
    ]
    mapping = t["mitre_attack_techniques_tactics_mapping"]
    objects += [
        {
            "type": "attack-pattern",
            "name": name,
            "external_references": _ref(tid),
            "kill_chain_phases": [
                {"kill_chain_name": "mitre-attack", "phase_name": p} for p in mapping.get(tid, [])
            ],
        }
        for tid, name in t["mitre_attack_techniques"].items()
    ]
    objects += [
        {"type": "intrusion-set", "name": name, "external_references": _ref(gid)}
        for gid, name in t["mitre_attack_intrusion_sets"].items()
    ]
    objects += [
        {"type": "tool", "name": name, "external_references": _ref(sid)}
        for sid, name in t["mitre_attack_software"].items()
    ]
    return {"type": "bundle", "id": "bundle--soc-offline-attack", "objects": objects}


def d3fend_graph(t: dict[str, Any]) -> dict[str, Any]:
    version = t["mitre_d3fend_version"]
    graph: list[dict[str, Any]] = [
        {
            "@type": "owl:Ontology",
            "owl:versionIRI": f"http://d3fend.mitre.org/ontologies/d3fend/{version}",
        }
    ]
    graph += [
        {"@type": ["owl:Class", "d3f:DefensiveTactic"], "rdfs:label": label}
        for label in t["mitre_d3fend_tactics"].values()
    ]
    graph += [
        {"@type": "owl:Class", "d3f:d3fend-id": tid, "rdfs:label": label}
        for tid, label in t["mitre_d3fend_techniques"].items()
    ]
    graph += [
        {"@id": f"d3f:#{aid}", "@type": "d3f:DigitalArtifact", "rdfs:label": label}
        for aid, label in t["mitre_d3fend_artifacts"].items()
    ]
    return {"@graph": graph}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
            check=True,
        )
        attack = _tables(Path(tmp), "mitre_attack")
        d3fend = _tables(Path(tmp), "mitre_d3fend")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mitre-attack.json").write_text(json.dumps(attack_bundle(attack), separators=(",", ":")))
    (OUT / "mitre-d3fend.json").write_text(json.dumps(d3fend_graph(d3fend), separators=(",", ":")))
    print(
        f"ATT&CK {attack['mitre_attack_version']}: {len(attack['mitre_attack_techniques'])} "
        f"techniques; D3FEND {d3fend['mitre_d3fend_version']}: "
        f"{len(d3fend['mitre_d3fend_techniques'])} techniques -> {OUT}"
    )


if __name__ == "__main__":
    main()
