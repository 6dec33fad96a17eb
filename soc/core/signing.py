"""The integrator's Ed25519 signing key and detached signatures over exact bytes.

One key signs the audit checkpoints (soc.core.checkpoints) and the published documents
(monthly reports, invoices). Its path comes from `SOC_SIGNING_KEY_PATH`; in embedded mode
without it, a key is generated under data_dir/keys/ on first use with a warning, so a demo
works out of the box. Production refuses to run without a configured key: a key made up on
one machine would sign what no customer can check.

A detached signature is a small JSON file (`<file>.sig`) naming the key and the file's
SHA-256 beside the Ed25519 signature over the file's bytes; only the signature proves
anything, the rest helps a person see what went wrong.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from soc.core.errors import Conflict, Invalid
from soc.core.i18n import N_
from soc.core.settings import Settings

log = logging.getLogger(__name__)
SIGNATURE_FORMAT = "soc-signature/1"
DEV_KEY_NAME = "signing-ed25519.pem"
_generate_lock = threading.Lock()


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key (SHA-256 of its raw 32 bytes, 16 hex digits)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key_pair(private_path: Path, public_path: Path | None = None) -> Ed25519PrivateKey:
    """A new key: the private PEM readable by its owner only (0600), the public PEM beside it
    (`<name>.pub.pem` unless given). Never overwrites an existing private key."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(private_path, flags, 0o600)
    except FileExistsError:
        raise Conflict(
            N_("{path} exists; not overwriting a signing key"), path=private_path
        ) from None
    with os.fdopen(fd, "wb") as out:
        out.write(_private_pem(key))
    (public_path or public_path_of(private_path)).write_bytes(public_pem(key.public_key()))
    return key


def public_path_of(private_path: Path) -> Path:
    return private_path.with_name(private_path.name.removesuffix(".pem") + ".pub.pem")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise Invalid(
            N_("cannot read the signing key {path}: {error}"), path=path, error=exc
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise Invalid(N_("{path} is not an Ed25519 private key"), path=path)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key PEM, or the public half of a private key PEM (handy for the operator)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid(
            N_("cannot read the public key {path}: {error}"), path=path, error=exc
        ) from None
    try:
        key: object = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise Invalid(N_("{path} is not a PEM public key"), path=path) from None
    if not isinstance(key, Ed25519PublicKey):
        raise Invalid(N_("{path} is not an Ed25519 public key"), path=path)
    return key


def signing_key_path(settings: Settings) -> Path:
    return settings.signing_key_path or Path(settings.data_dir) / "keys" / DEV_KEY_NAME


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key; in embedded mode without one, the development key under data_dir
    (generated on first use, with a warning)."""
    if settings.signing_key_path is not None:
        return load_private_key(settings.signing_key_path)
    if settings.mode == "production":
        raise Conflict(N_("no signing key: set SOC_SIGNING_KEY_PATH (see `soc audit keygen`)"))
    path = signing_key_path(settings)
    with _generate_lock:
        if not path.exists():
            log.warning(
                "no SOC_SIGNING_KEY_PATH: generating a development signing key at %s; "
                "configure a real key before handing signatures to customers",
                path,
            )
            try:
                return write_key_pair(path)
            except Conflict:  # another process made it first
                pass
    return load_private_key(path)


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode()


def check(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def detached(key: Ed25519PrivateKey, data: bytes, name: str) -> bytes:
    """The `.sig` file of `data` (a document called `name`)."""
    return orjson.dumps(
        {
            "format": SIGNATURE_FORMAT,
            "algorithm": "Ed25519",
            "key_id": key_id(key.public_key()),
            "file": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "signature": sign(key, data),
        },
        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
    )


def sign_file(settings: Settings, path: Path) -> Path:
    """Write `<path>.sig` beside a published file; returns the signature's path."""
    sig = signature_path(path)
    sig.write_bytes(detached(signing_key(settings), path.read_bytes(), path.name))
    return sig


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


@dataclass
class DocumentCheck:
    ok: bool
    reason: str


def check_detached(public: Ed25519PublicKey, data: bytes, signature_file: bytes) -> DocumentCheck:
    """Whether a `.sig` file signs exactly these bytes with this key, and if not, why."""
    try:
        sig: Any = orjson.loads(signature_file)
        signature = sig["signature"]
        if sig.get("format") != SIGNATURE_FORMAT or not isinstance(signature, str):
            raise ValueError
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return DocumentCheck(False, "the signature file is not a soc signature")
    given = key_id(public)
    if check(public, data, signature):
        return DocumentCheck(True, f"signed by key {given}")
    if sig.get("key_id") != given:
        return DocumentCheck(
            False, f"signed by key {sig.get('key_id')}, not by the given key {given}"
        )
    if sig.get("sha256") != hashlib.sha256(data).hexdigest():
        return DocumentCheck(False, "the file was changed after it was signed")
    return DocumentCheck(False, "the signature is not valid for this file")
