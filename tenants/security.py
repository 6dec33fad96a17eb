"""Secrets: argon2 password hashes, TOTP second factor, random tokens and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_KEY_PREFIX = "soc_"
ISSUER = "soc"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; with no hash (unknown user) check against a dummy one, so the answer
    takes as long whether or not the user exists."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def verify_totp(secret: str, code: str) -> bool:
    """Accept the current code and one step either side (clock drift)."""
    return bool(code) and pyotp.TOTP(secret).verify(code.strip(), valid_window=1)


def totp_step(secret: str, code: str, after: int | None = None) -> int | None:
    """The time step whose code this is (current, or one either side for clock drift), if it
    is later than `after`: a code already used cannot be used again."""
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // totp.interval
    given = (code or "").strip().encode()
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(
            totp.generate_otp(step).encode(), given
        ):
            return step
    return None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    """A 256-bit random key; its first 12 characters are a non-secret lookup prefix."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)
