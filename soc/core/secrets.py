"""Secrets at rest: Fernet encryption with a key ring from `SOC_SECRET_KEYS`.

A stored secret (a column of type `EncryptedString`, or a setting written as `enc:...`) is
`enc:` followed by a Fernet token (AES-128-CBC with HMAC-SHA256, the `cryptography` package).
The ring is a MultiFernet: the first key encrypts, every key decrypts, so a new key is put
first, the values are re-encrypted (`soc secrets rotate`) while reads keep working, and the old
key is dropped afterwards.

Without `SOC_SECRET_KEYS` (a demo or a developer's machine) the ring is one key kept in
`<data_dir>/secret.key`, generated on first use with a warning: there is no built-in key, so
two installations never share one by accident.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel
from sqlalchemy import String
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator


class KeySettings(Protocol):
    """What the ring is read from (soc.core.settings.Settings)."""

    @property
    def secret_keys(self) -> str | None: ...

    @property
    def data_dir(self) -> Path: ...


log = logging.getLogger(__name__)

PREFIX = "enc:"
KEY_FILE = "secret.key"


class SecretKeyError(RuntimeError):
    """No usable key: a malformed `SOC_SECRET_KEYS`, or a value no key of the ring opens."""


def is_encrypted(value: str | None) -> bool:
    return value is not None and value.startswith(PREFIX)


@dataclass(frozen=True)
class Keyring:
    """The keys in order: `keys[0]` encrypts, all of them decrypt."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretKeyError("a key ring needs at least one key")

    @property
    def _multi(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])

    def encrypt(self, plain: str) -> str:
        return PREFIX + Fernet(self.keys[0]).encrypt(plain.encode()).decode()

    def decrypt(self, value: str) -> str:
        """The plaintext of an `enc:` value; a value without the prefix is returned as it is
        (a setting still given in plaintext, a row written before encryption)."""
        if not is_encrypted(value):
            return value
        try:
            return self._multi.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret was encrypted with a key that is not in SOC_SECRET_KEYS "
                "(add the old key after the new one until `soc secrets rotate` has run)"
            ) from None

    def rotate(self, value: str) -> str:
        """The value encrypted with the first key (plaintext is encrypted, too)."""
        if not is_encrypted(value):
            return self.encrypt(value)
        try:
            token = self._multi.rotate(value[len(PREFIX) :].encode())
        except InvalidToken:
            raise SecretKeyError("a stored secret opens with no key of SOC_SECRET_KEYS") from None
        return PREFIX + token.decode()

    def is_current(self, value: str) -> bool:
        """Whether the value is encrypted with the first key (nothing left to rotate)."""
        if not is_encrypted(value):
            return False
        try:
            Fernet(self.keys[0]).decrypt(value[len(PREFIX) :].encode())
        except InvalidToken:
            return False
        return True


def parse_keys(text: str) -> tuple[bytes, ...]:
    """Comma- or line-separated Fernet keys (32 random bytes, URL-safe base64 each)."""
    keys = tuple(
        part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip()
    )
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"key {number} of SOC_SECRET_KEYS is not a Fernet key (make one with "
                "`soc secrets new-key`)"
            ) from None
    if not keys:
        raise SecretKeyError("SOC_SECRET_KEYS holds no key")
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


_lock = threading.Lock()
_rings: dict[tuple[str | None, str], Keyring] = {}
_installed: Keyring | None = None


def keyring_for(secret_keys: str | None, data_dir: Path, *, create: bool = True) -> Keyring:
    """The ring of these settings: `SOC_SECRET_KEYS` when set, else the key file in the data
    directory, generated (with a warning) when `create` and missing."""
    cache_key = (secret_keys, str(Path(data_dir).resolve()))
    with _lock:
        ring = _rings.get(cache_key)
        if ring is None:
            ring = Keyring(parse_keys(secret_keys) if secret_keys else _file_keys(data_dir, create))
            _rings[cache_key] = ring
        return ring


def _file_keys(data_dir: Path, create: bool) -> tuple[bytes, ...]:
    path = Path(data_dir) / KEY_FILE
    if path.exists():
        return parse_keys(path.read_text())
    if not create:
        raise SecretKeyError(
            f"no key to open an encrypted setting: set SOC_SECRET_KEYS (or keep {path})"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    # O_EXCL: two processes starting at once keep one key, the loser reads the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_keys(path.read_text())
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(
        "SOC_SECRET_KEYS is not set: generated a secret key in %s for this installation. "
        "Stored secrets are encrypted with it; losing the file loses them. In production set "
        "SOC_SECRET_KEYS (`soc secrets new-key`) and keep it outside the data directory.",
        path,
    )
    return parse_keys(key)


def keyring(settings: KeySettings) -> Keyring:
    return keyring_for(settings.secret_keys, settings.data_dir)


def install(settings: KeySettings) -> Keyring:
    """Make these settings' ring the one encrypted columns use in this process (the shell
    calls it when it builds its services)."""
    global _installed
    ring = keyring(settings)
    _installed = ring
    return ring


# The environment's settings (soc.core.settings registers `get_settings` here: this floor's
# settings import this module, not the other way round).
default_settings: Callable[[], KeySettings] | None = None


def active() -> Keyring:
    """The ring of encrypted columns: the installed one, else the environment's settings."""
    if _installed is not None:
        return _installed
    if default_settings is None:
        raise SecretKeyError("no key ring: the settings module was not loaded")
    return keyring(default_settings())


def reveal_values(value: Any, ring: Keyring) -> Any:
    """`value` with every `enc:` string in it (also in lists and dicts) decrypted."""
    if isinstance(value, str):
        return ring.decrypt(value)
    if isinstance(value, list):
        return [reveal_values(item, ring) for item in value]
    if isinstance(value, dict):
        return {key: reveal_values(item, ring) for key, item in value.items()}
    if isinstance(value, BaseModel):  # e.g. one identity provider of a list in the settings
        fields = type(value).model_fields
        return value.model_copy(
            update={name: reveal_values(getattr(value, name), ring) for name in fields}
        )
    return value


def contains_encrypted(value: Any) -> bool:
    if isinstance(value, str):
        return is_encrypted(value)
    if isinstance(value, list):
        return any(contains_encrypted(item) for item in value)
    if isinstance(value, dict):
        return any(contains_encrypted(item) for item in value.values())
    if isinstance(value, BaseModel):
        return any(contains_encrypted(getattr(value, n)) for n in type(value).model_fields)
    return False


class EncryptedString(TypeDecorator[str]):
    """A string column kept encrypted: written as `enc:<Fernet token>` with the active ring's
    first key, read back as plaintext. Never compare such a column in SQL (the ciphertext is
    random each time)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else active().encrypt(value)

    def process_result_value(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else active().decrypt(value)


def encrypted_columns(metadata: Any) -> Sequence[tuple[str, str]]:
    """(table, column) of every `EncryptedString` column of the metadata."""
    return [
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedString)
    ]


@dataclass
class ColumnReport:
    table: str
    column: str
    current: int = 0  # encrypted with the first key
    older: int = 0  # encrypted with another key of the ring
    plaintext: int = 0
    rotated: int = 0


def rotate_stored(
    session: Session, ring: Keyring, columns: Sequence[tuple[str, str]], *, write: bool = True
) -> list[ColumnReport]:
    """Re-encrypt every stored value of these columns that is not under the first key (and
    encrypt any plaintext left), in the caller's transaction. Reads keep working all along:
    every key of the ring still opens the values not yet rewritten."""
    reports = []
    for table_name, column_name in columns:
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column_name, String))
        column = table.c[column_name]
        report = ColumnReport(table_name, column_name)
        rows = session.execute(sa.select(table.c.id, column).where(column.isnot(None))).all()
        for row_id, value in rows:
            if ring.is_current(value):
                report.current += 1
                continue
            if is_encrypted(value):
                report.older += 1
            else:
                report.plaintext += 1
            if write:
                session.execute(
                    table.update()
                    .where(table.c.id == row_id)
                    .values({column_name: ring.rotate(value)})
                )
                report.rotated += 1
        reports.append(report)
    return reports
