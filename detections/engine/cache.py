"""Compiled rule sets on disk, so that a start-up does not parse thousands of rules again.

What is cached is what costs: pySigma's parsing and the lowering of condition trees to plans
(detections.engine.compile), plus each rule's metadata and candidate requirement. Closures
cannot be stored; they are rebuilt from the plans, which takes a fraction of the parse.

An entry is keyed by a hash of every rule file's path and bytes and of the engine (ENGINE_VERSION,
the source of the engine modules, the Python and pySigma versions, the regex trust mode), so
editing, adding, removing or renaming a rule, or upgrading the engine, misses the cache. Files
with correlation rules are stored as "parse again" (they are few and cheap). Unreadable files
are never cached: they are reported afresh on every load.

Entries are written to a temporary file and renamed into place (atomic on POSIX), so two
processes starting together both write a complete entry and the last rename wins; a reader
never sees half a file. An entry is ``MAGIC``, the SHA-256 of the body, then the JSON body: one
that fails the check, does not decode or does not match the files is ignored with a warning
and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from detections.correlation import CorrelationRule
from detections.engine.loader import (
    decode_rule_text,
    iter_rule_files,
    load_yaml_indexed,
    sigma_rule_at,
)
from detections.engine.rule import CompiledRule, RuleLoadError
from detections.engine.safe_regex import is_untrusted

log = logging.getLogger(__name__)

# Bump when compiled output changes in a way the engine's source hash would not show (e.g. a
# dependency's behaviour the compiler relies on).
ENGINE_VERSION = 1
MAGIC = b"soc-rule-cache 1\n"
SUFFIX = ".rules"
# Entries kept per cache directory (the most recently used); each is a few MB.
KEEP_ENTRIES = 8
# A temporary file this old is a crashed writer's.
STALE_TMP_SECONDS = 3600

ErrorCallback = Callable[[RuleLoadError], None]


class CacheError(ValueError):
    """An entry that cannot be used (corrupt, from other files, unreadable)."""


@dataclass
class RuleFile:
    """One rule file as read for this load: its bytes, or why it could not be read."""

    path: str
    data: bytes | None
    unreadable: str | None = None
    _text: str | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        if self._text is None:
            assert self.data is not None
            self._text = decode_rule_text(self.data)
        return self._text


@dataclass
class Loaded:
    """The outcome of a load: rules, errors, correlations and where they came from."""

    rules: list[CompiledRule]
    errors: list[RuleLoadError]
    correlations: list[CorrelationRule]
    origin: str  # "cache" or "source"
    path: Path | None = None


def user_cache_dir() -> Path:
    """The per-user cache directory (XDG): where `soc detect` keeps compiled rule sets."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soc" / "rules"


@cache
def _engine_sources_digest() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in [*sorted(here.glob("*.py")), here.parent / "correlation.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def engine_fingerprint() -> str:
    """What the compiled form depends on besides the rules (see the module doc)."""
    try:
        sigma_version = metadata.version("pySigma")
    except metadata.PackageNotFoundError:  # pragma: no cover - pySigma is a dependency
        sigma_version = "unknown"
    parts = [
        f"engine {ENGINE_VERSION}",
        _engine_sources_digest(),
        sys.version,
        f"pySigma {sigma_version}",
        f"untrusted {is_untrusted()}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def read_rule_files(paths: Iterable[Path]) -> list[RuleFile]:
    files: list[RuleFile] = []
    for path in iter_rule_files(paths):
        try:
            data = path.read_bytes()
            files.append(RuleFile(str(path), data, _text=decode_rule_text(data)))
        except (OSError, UnicodeDecodeError) as exc:
            files.append(RuleFile(str(path), None, f"unreadable: {exc}"))
    return files


def set_key(files: list[RuleFile]) -> str:
    """The cache key of a rule set: the engine and every file's path and bytes."""
    digest = hashlib.sha256(engine_fingerprint().encode())
    for f in files:
        name = f.path.encode("utf-8", "surrogateescape")
        digest.update(len(name).to_bytes(8, "big") + name)
        if f.data is None:
            digest.update(b"\xff" * 8)
        else:
            digest.update(len(f.data).to_bytes(8, "big") + f.data)
    return digest.hexdigest()


# --- building entries ----------------------------------------------------------------------


def _compile_file(
    f: RuleFile, correlations: list[CorrelationRule]
) -> tuple[list[CompiledRule], list[RuleLoadError], dict[str, Any] | None]:
    """Rules and errors of one file from its text, and its cache entry (None: not cached)."""
    if f.data is None:
        return [], [RuleLoadError(f.path, None, f.unreadable or "unreadable")], None
    found: list[CorrelationRule] = []
    indexed, errors = load_yaml_indexed(f.text, f.path, found)
    correlations.extend(found)
    rules = [rule for _, rule in indexed]
    if found:
        return rules, errors, {"reparse": True}
    entry = {
        "rules": [{"index": i, **rule.to_data()} for i, rule in indexed],
        "errors": [[e.rule_id, e.reason] for e in errors],
    }
    return rules, errors, entry


def _from_entry(
    f: RuleFile, entry: dict[str, Any], correlations: list[CorrelationRule]
) -> tuple[list[CompiledRule], list[RuleLoadError]]:
    if f.data is None or entry.get("reparse"):
        rules, errors, _ = _compile_file(f, correlations)
        return rules, errors
    text = f.text
    rules = [
        CompiledRule.from_data(data, f.path, partial(sigma_rule_at, text, data["index"]))
        for data in entry["rules"]
    ]
    errors = [RuleLoadError(f.path, rid, reason) for rid, reason in entry["errors"]]
    return rules, errors


# --- the entry file ------------------------------------------------------------------------


def _decode(blob: bytes, key: str, files: list[RuleFile]) -> list[dict[str, Any] | None]:
    if not blob.startswith(MAGIC):
        raise CacheError("not a rule cache file")
    checksum, _, body = blob[len(MAGIC) :].partition(b"\n")
    if hashlib.sha256(body).hexdigest().encode() != checksum:
        raise CacheError("checksum mismatch")
    payload = orjson.loads(body)
    if payload.get("key") != key or payload.get("paths") != [f.path for f in files]:
        raise CacheError("entry is for other rule files")
    entries: list[dict[str, Any] | None] = payload["files"]
    if len(entries) != len(files):
        raise CacheError("entry is for other rule files")
    return entries


def _encode(key: str, files: list[RuleFile], entries: list[dict[str, Any] | None]) -> bytes:
    body = orjson.dumps({"key": key, "paths": [f.path for f in files], "files": entries})
    return MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body


def _write_atomically(target: Path, blob: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=SUFFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(directory: Path, keep: Path) -> None:
    """Drop all but the KEEP_ENTRIES most recently used entries, and dead temporary files."""
    now = time.time()
    entries: list[tuple[float, Path]] = []
    for path in directory.iterdir():
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue  # removed meanwhile by another process
        if path.name.startswith(".tmp-"):
            if now - mtime > STALE_TMP_SECONDS:
                path.unlink(missing_ok=True)
        elif path.suffix == SUFFIX and path != keep:
            entries.append((mtime, path))
    entries.sort(reverse=True)
    for _, path in entries[KEEP_ENTRIES - 1 :]:
        path.unlink(missing_ok=True)


def load(paths: Iterable[Path], cache_dir: Path, on_error: ErrorCallback | None = None) -> Loaded:
    """Every rule below ``paths``, from the cache in ``cache_dir`` when it holds this exact
    set of files for this engine, else from source (then the entry is written)."""
    files = read_rule_files(paths)
    key = set_key(files)
    target = cache_dir / f"{key}{SUFFIX}"
    rules: list[CompiledRule] = []
    errors: list[RuleLoadError] = []
    correlations: list[CorrelationRule] = []
    loaded = _load_entry(target, key, files)
    origin = "cache" if loaded is not None else "source"
    stored = False
    if loaded is not None:
        rules, errors, correlations = loaded
    else:
        entries: list[dict[str, Any] | None] = []
        for f in files:
            good, bad, entry = _compile_file(f, correlations)
            rules.extend(good)
            errors.extend(bad)
            entries.append(entry)
        stored = _store(target, key, files, entries)
    if on_error is not None:
        for err in errors:
            on_error(err)
    return Loaded(
        rules, errors, correlations, origin, target if origin == "cache" or stored else None
    )


def _load_entry(
    target: Path, key: str, files: list[RuleFile]
) -> tuple[list[CompiledRule], list[RuleLoadError], list[CorrelationRule]] | None:
    try:
        blob = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("rule cache %s unreadable (%s); loading the rules from source", target, exc)
        return None
    rules: list[CompiledRule] = []
    errors: list[RuleLoadError] = []
    correlations: list[CorrelationRule] = []
    try:
        entries = _decode(blob, key, files)
        for f, entry in zip(files, entries, strict=True):
            good, bad = _from_entry(f, entry or {"reparse": True}, correlations)
            rules.extend(good)
            errors.extend(bad)
    except Exception as exc:  # noqa: BLE001 - any defect of the entry means: rebuild it
        log.warning("rule cache %s is unusable (%s); rebuilding it from source", target, exc)
        return None
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(target)  # most recently used: kept by _prune
    return rules, errors, correlations


def _store(
    target: Path, key: str, files: list[RuleFile], entries: list[dict[str, Any] | None]
) -> bool:
    """Write the entry (False, with a warning, when it cannot be: the load goes on)."""
    try:
        _write_atomically(target, _encode(key, files, entries))
    except (OSError, TypeError, orjson.JSONEncodeError) as exc:
        log.warning("rule cache %s not written (%s)", target, exc)
        return False
    try:
        _prune(target.parent, target)
    except OSError as exc:
        log.warning("rule cache %s not pruned (%s)", target.parent, exc)
    return True
