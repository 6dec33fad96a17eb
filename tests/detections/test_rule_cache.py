"""The compiled rule-set cache: hits, invalidation by a rule's bytes, its path and the engine,
corrupt and unwritable entries, concurrent writers, and its users (`soc detect`, the server's
`load_ruleset`). On real SigmaHQ rules and their regression events."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detections.cli import app as detect_app
from detections.engine import RuleSet
from detections.engine import cache as rule_cache
from detections.sources import load_ruleset
from ingest.files import iter_events_from_file
from soc.core.settings import Settings, get_settings
from tests.detections.conftest import CORPUS, REGRESSION, REPO_ROOT, corpus_available

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not corpus_available(), reason="SigmaHQ corpus not available"),
]

OWN_RULES = REPO_ROOT / "detections" / "rules"
SAMPLE = "windows/builtin/security/win_security_susp_scheduled_task_delete_or_disable"
RULE_ID = "7595ba94-cf3b-4471-aa03-4f6baa9e5fad"
# The sample's events are 4699/4701; without those EventIDs the rule cannot fire on them.
EVENT_IDS = "- 4699 # Task Deleted Event\n            - 4701 # Task Disabled Event"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rule directory: the sample's rule and a few more real rules of the same folder."""
    target = tmp_path / "rules"
    target.mkdir()
    source = CORPUS / "rules" / f"{SAMPLE}.yml"
    shutil.copy(source, target / source.name)
    for other in sorted(source.parent.glob("*.yml"))[:5]:
        shutil.copy(other, target / other.name)
    return target


def _events() -> list[dict[str, object]]:
    sample = REGRESSION / "rules" / SAMPLE
    return [e for f in sorted(sample.glob("*.json")) for e in iter_events_from_file(f)]


def _fired(rs: RuleSet) -> list[list[str]]:
    return [[r.id for r in rs.match(e)] for e in _events()]


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob(f"*{rule_cache.SUFFIX}"))


def test_second_load_is_from_cache_and_matches_the_same(rules_dir: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    plain = RuleSet.from_dirs([rules_dir])
    cold = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    warm = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert (plain.load_origin, cold.load_origin, warm.load_origin) == ("source", "source", "cache")
    assert warm.cache_path == cold.cache_path and _entries(cache_dir) == [cold.cache_path]
    assert [r.to_data() for r in warm.rules] == [r.to_data() for r in plain.rules]
    assert [r.source for r in warm.rules] == [r.source for r in plain.rules]
    assert any(RULE_ID in ids for ids in _fired(plain))
    assert _fired(warm) == _fired(plain)
    # the pySigma rule of a cached rule is parsed on demand, the same as the source's
    cached, parsed = warm.rules[0], plain.rules[0]
    assert cached.parsed_rule is None
    assert cached.sigma_rule is not None and parsed.sigma_rule is not None
    assert cached.sigma_rule.to_dict() == parsed.sigma_rule.to_dict()


def test_changed_rule_misses_and_its_new_behaviour_matches(rules_dir: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    rule_file = rules_dir / f"{Path(SAMPLE).name}.yml"
    original = rule_file.read_text(encoding="utf-8")
    assert EVENT_IDS in original
    first = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert any(RULE_ID in ids for ids in _fired(first))

    rule_file.write_text(
        original.replace(EVENT_IDS, "- 4698").replace("level: high", "level: low"),
        encoding="utf-8",
    )
    changed = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert changed.load_origin == "source" and changed.cache_path != first.cache_path
    assert not any(RULE_ID in ids for ids in _fired(changed))
    assert next(r.level for r in changed.rules if r.id == RULE_ID) == "low"
    again = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert again.load_origin == "cache" and not any(RULE_ID in ids for ids in _fired(again))
    assert next(r.level for r in again.rules if r.id == RULE_ID) == "low"

    # back to the original bytes: the first entry is still there and used
    rule_file.write_text(original, encoding="utf-8")
    back = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert back.load_origin == "cache" and back.cache_path == first.cache_path
    assert _fired(back) == _fired(first)


def test_added_removed_and_renamed_files_miss(rules_dir: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    base = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    victim = sorted(rules_dir.glob("*.yml"))[-1]
    renamed = victim.with_name("renamed_" + victim.name)
    victim.rename(renamed)
    after_rename = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert after_rename.load_origin == "source"
    assert str(renamed) in {r.source for r in after_rename.rules}
    renamed.unlink()
    removed = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert removed.load_origin == "source" and len(removed) == len(base) - 1
    shutil.copy(OWN_RULES / "soc_proc_creation_whoami.yml", rules_dir)
    added = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert added.load_origin == "source" and len(added) == len(base)


def test_engine_change_misses(
    rules_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    monkeypatch.setattr(rule_cache, "ENGINE_VERSION", rule_cache.ENGINE_VERSION + 1)
    assert RuleSet.from_dirs([rules_dir], cache_dir=cache_dir).load_origin == "source"
    assert RuleSet.from_dirs([rules_dir], cache_dir=cache_dir).load_origin == "cache"
    assert len(_entries(cache_dir)) == 2


def _truncate(blob: bytes) -> bytes:
    return blob[: len(blob) // 2]


def _flip_body_byte(blob: bytes) -> bytes:
    i = len(blob) - 10
    return blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]


def _garbage(blob: bytes) -> bytes:
    return b"\x00\xffnot a cache" * 100


def _resealed_other_body(blob: bytes) -> bytes:
    """A well-formed entry (right checksum) for other files."""
    body = b'{"key": "x", "paths": [], "files": []}'
    return rule_cache.MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


@pytest.mark.parametrize(
    "corrupt", [_truncate, _flip_body_byte, _garbage, _resealed_other_body, lambda b: b""]
)
def test_corrupt_entry_is_ignored_with_a_warning_and_rebuilt(
    rules_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, corrupt: object
) -> None:
    cache_dir = tmp_path / "cache"
    good = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert good.cache_path is not None
    good.cache_path.write_bytes(corrupt(good.cache_path.read_bytes()))  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger=rule_cache.__name__):
        rebuilt = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert rebuilt.load_origin == "source"
    assert any("unusable" in r.getMessage() for r in caplog.records)
    assert _fired(rebuilt) == _fired(good)
    warm = RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert warm.load_origin == "cache" and _fired(warm) == _fired(good)


def test_unwritable_cache_dir_warns_and_loads(
    rules_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    with caplog.at_level(logging.WARNING, logger=rule_cache.__name__):
        rs = RuleSet.from_dirs([rules_dir], cache_dir=blocker / "cache")
    assert rs.load_origin == "source" and rs.cache_path is None and len(rs) > 0
    assert any("not written" in r.getMessage() for r in caplog.records)


def test_errors_unreadable_files_and_correlations_survive_the_cache(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yml").write_text("title: [unclosed\n", encoding="utf-8")
    (rules / "badmod.yml").write_text(
        "title: x\nid: 5f2b8b8e-4a39-4c4e-9d8a-3b0a6a4c2f10\nlogsource:\n  product: windows\n"
        "detection:\n  sel:\n    Image|nosuchmodifier: a\n  condition: sel\n",
        encoding="utf-8",
    )
    (rules / "binary.yml").write_bytes(b"\xff\xfe\x00garbage")
    (rules / "crlf.yml").write_bytes(
        (OWN_RULES / "soc_proc_creation_whoami.yml").read_bytes().replace(b"\n", b"\r\n")
    )
    (rules / "corr.yml").write_text(
        "title: base\nname: base_rule\nid: 0b3f0a4e-8d36-4a2b-9d3c-2c8a1f4e5d61\n"
        "logsource:\n  product: windows\n  service: security\n"
        "detection:\n  sel:\n    EventID: 4625\n  condition: sel\n"
        "---\n"
        "title: corr\nid: 7d5a0c2e-1b6f-4f0a-8a9e-6c2d3b4e5f70\n"
        "correlation:\n  type: event_count\n  rules:\n    - base_rule\n"
        "  group-by:\n    - TargetUserName\n  timespan: 5m\n  condition:\n    gte: 10\n",
        encoding="utf-8",
    )
    cache_dir = tmp_path / "cache"
    plain = RuleSet.from_dirs([rules])
    RuleSet.from_dirs([rules], cache_dir=cache_dir)
    seen: list[object] = []
    warm = RuleSet.from_dirs([rules], on_error=seen.append, cache_dir=cache_dir)
    assert warm.load_origin == "cache"
    assert seen == warm.errors == plain.errors
    assert [r.title for r in warm.rules] == [r.title for r in plain.rules]
    assert [c.title for c in warm.correlations] == ["corr"]
    whoami = {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"}
    whoami |= {"Image": r"C:\Windows\System32\whoami.exe", "CommandLine": "whoami /all"}
    assert [r.id for r in warm.match(whoami)] == [r.id for r in plain.match(whoami)] != []


_CHILD = """
import sys, time
from pathlib import Path
from detections.engine import RuleSet
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
rs = RuleSet.from_dirs([sys.argv[1]], cache_dir=sys.argv[2])
print(rs.load_origin, len(rs))
"""


def test_concurrent_writers_leave_one_good_entry(tmp_path: Path) -> None:
    rules = CORPUS / "rules" / "windows" / "builtin" / "security"
    cache_dir, go = tmp_path / "cache", tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(rules), str(cache_dir), str(go)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(0.2)
    go.touch()
    outputs = [c.communicate(timeout=300)[0].split() for c in children]
    assert [c.returncode for c in children] == [0, 0]
    sizes = {int(out[1]) for out in outputs}
    assert len(sizes) == 1 and sizes.pop() > 50
    assert len(_entries(cache_dir)) == 1
    assert not list(cache_dir.glob(".tmp-*"))
    warm = RuleSet.from_dirs([rules], cache_dir=cache_dir)
    assert warm.load_origin == "cache"
    assert [r.id for r in warm.rules] == [r.id for r in RuleSet.from_dirs([rules]).rules]


def test_old_entries_are_pruned(rules_dir: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    extra = rules_dir / "extra.yml"
    for n in range(rule_cache.KEEP_ENTRIES + 2):
        extra.write_text(
            (OWN_RULES / "soc_proc_creation_whoami.yml")
            .read_text(encoding="utf-8")
            .replace("whoami", f"whoami{n}"),
            encoding="utf-8",
        )
        RuleSet.from_dirs([rules_dir], cache_dir=cache_dir)
    assert len(_entries(cache_dir)) == rule_cache.KEEP_ENTRIES


def test_server_load_ruleset_uses_the_setting_and_logs_where_from(
    rules_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "var", rules_dirs=[rules_dir])
    with caplog.at_level(logging.INFO, logger="detections.sources"):
        cold = load_ruleset(settings)
        warm = load_ruleset(settings)
    assert cold.load_origin == "source" and warm.load_origin == "cache"
    assert warm.cache_path is not None
    assert warm.cache_path.parent == tmp_path / "var" / "cache" / "rules"
    messages = [r.getMessage() for r in caplog.records if r.name == "detections.sources"]
    assert any(m.startswith(f"loaded {len(warm)} Sigma rules (0 unusable)") for m in messages)
    assert "from source (cached to" in messages[0] and "from cache " in messages[-1]

    off = Settings(data_dir=tmp_path / "off", rules_dirs=[rules_dir], rule_cache=False)
    assert load_ruleset(off).load_origin == "source"
    assert not (tmp_path / "off" / "cache").exists()
    own = Settings(data_dir=tmp_path / "var", rule_cache_dir=tmp_path / "own")
    assert load_ruleset(own).cache_path.parent == tmp_path / "own"  # type: ignore[union-attr]


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 always separates stderr
        return CliRunner()


def test_soc_detect_uses_the_cache_unless_no_cache(
    rules_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "user-cache"
    monkeypatch.setenv("SOC_RULE_CACHE_DIR", str(cache_dir))
    get_settings.cache_clear()
    monkeypatch.setattr("detections.cli.get_settings", get_settings)
    events = sorted((REGRESSION / "rules" / SAMPLE).glob("*.json"))
    args = ["detect", "--rules", str(rules_dir), *map(str, events)]
    try:
        runs = [_runner().invoke(detect_app, args) for _ in range(2)]
        uncached = _runner().invoke(detect_app, [*args[:1], "--no-cache", *args[1:]])
    finally:
        get_settings.cache_clear()
    assert [r.exit_code for r in (*runs, uncached)] == [0, 0, 0], runs[0].stderr
    assert "from source (cached to" in runs[0].stderr
    assert "from cache " in runs[1].stderr
    assert "from source (no cache)" in uncached.stderr
    assert runs[0].stdout == runs[1].stdout == uncached.stdout and RULE_ID in runs[1].stdout
    assert len(_entries(cache_dir)) == 1
