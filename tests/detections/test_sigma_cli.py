"""`soc rules check` / `soc rules export` run sigma-cli 3.1 (installed with --no-deps beside
pySigma 2) on the product's pySigma: the same report as a separate `sigma check` process,
sigma's exit codes, a tenant's enabled rule set, and the installed backends' queries."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.detections.test_rules_cli import WHOAMI, env, soc

__all__ = ["env"]  # the fixture: a data directory with tenant acme
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "sigmahq" / "rules"
BUILTIN = Path(__file__).resolve().parents[2] / "detections" / "rules"

SLOPPY = """title: Sloppy tags
id: 0f6b7a3e-3b0e-4c61-9d55-6b1a4c9e0a11
status: test
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\\\whoami.exe'
    condition: selection
tags:
    - attack.discovery
    - attack.discovery
    - attack.t9999
level: low
"""
BAD_CONDITION = """title: Bad condition
id: 5d1f3c2b-8e4a-4b7d-9a1e-2c3b4d5e6f70
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image: x
    condition: selection and nothing_here
level: low
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "sloppy.yml").write_text(SLOPPY)
    (folder / "bad_condition.yml").write_text(BAD_CONDITION)
    return folder


def summary(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Found "))


def test_sigma_cli_declares_pysigma_1_yet_runs_on_the_products_pysigma_2() -> None:
    requires = metadata.requires("sigma-cli") or []
    assert metadata.version("sigma-cli") == "3.1.0"
    assert any(r.replace(" ", "").startswith("pysigma") and "<2" in r for r in requires)
    assert metadata.version("pysigma").startswith("2.")


def test_check_reports_what_a_separate_sigma_check_process_reports(rules_dir: Path) -> None:
    code, out = soc("rules", "check", str(rules_dir))
    assert code == 1  # sigma check fails on rule errors by default
    assert "=== Summary ===" in out
    assert summary(out) == "Found 0 errors, 1 condition errors and 2 issues."
    assert "DuplicateTagIssue" in out and "InvalidATTACKTagIssue" in out
    assert "attack.t9999" in out and "attack.discovery" not in out.split("InvalidATTACK")[1][:80]

    # sigma-cli's own entry point in a process of its own, on the same offline ATT&CK data
    oracle = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from detections.attack_data import use_offline_reference_data as u; "
            "u(); from sigma.cli.main import main; sys.argv = ['sigma', 'check', sys.argv[1]]; "
            "main()",
            str(rules_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert oracle.returncode == code
    assert summary(oracle.stdout) == summary(out)


def test_check_passes_sigma_options_and_exit_codes_through(rules_dir: Path) -> None:
    (rules_dir / "bad_condition.yml").unlink()
    assert soc("rules", "check", str(rules_dir))[0] == 0  # issues alone pass by default
    code, out = soc("rules", "check", "--fail-on-issues", str(rules_dir))
    assert code == 1 and summary(out) == "Found 0 errors, 0 condition errors and 2 issues."
    code, out = soc("rules", "check", "--exclude", "duplicate_tag", str(rules_dir))
    assert code == 0 and "DuplicateTagIssue" not in out and "InvalidATTACKTagIssue" in out


def test_check_the_shipped_rules_and_a_corpus_folder_offline() -> None:
    code, out = soc("rules", "check", str(BUILTIN))
    assert code == 0 and summary(out) == "Found 0 errors, 0 condition errors and 0 issues."
    folder = CORPUS / "windows" / "registry" / "registry_delete"
    code, out = soc("rules", "check", str(folder))
    assert code == 0 and "0 errors, 0 condition errors" in summary(out)


def test_check_and_export_a_tenants_enabled_rule_set(env: Path) -> None:
    assert soc("rules", "disable", WHOAMI, "--tenant", "acme")[0] == 0
    code, out = soc("rules", "check", "--tenant", "acme")
    assert code == 0 and "acme: 4 enabled rules" in out
    assert summary(out) == "Found 0 errors, 0 condition errors and 0 issues."

    target = env / "acme.lucene"
    code, out = soc(
        "rules",
        "export",
        "--tenant",
        "acme",
        "-t",
        "lucene",
        "-p",
        "ecs_windows",
        "-o",
        str(target),
    )
    assert code == 0, out
    queries = [q for q in target.read_text().splitlines() if q.strip()]
    assert len(queries) == 4  # one query per enabled rule, the disabled whoami rule left out
    assert any("winlog.channel:Security" in q for q in queries)
    assert not any("whoami" in q.lower() for q in queries)


def test_export_through_other_installed_backends_and_a_clear_error(env: Path) -> None:
    code, out = soc("rules", "export", "-t", "opensearch_lucene", "-p", "ecs_windows", str(BUILTIN))
    assert code != 0 and "not intended to be used with the target" in out
    code, out = soc("rules", "export", "-t", "sqlite", str(BUILTIN))
    assert code == 0 and out.count("SELECT * FROM logs WHERE") == 5
    code, out = soc("rules", "export", "-t", "no_such_backend", str(BUILTIN))
    assert code == 2 and "no_such_backend" in out and "sigma plugin list" in out
