"""Password policy for every way a password is set (API, CLI, demo): long enough, not blank,
not the username, not a common or breached password."""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

from soc.core.errors import Invalid
from soc.core.i18n import N_

# About 20,000 common passwords (lowercased), copied unchanged from Django 5.2.19
# (django/contrib/auth/common-passwords.txt.gz, BSD licence; list compiled by Royce Williams);
# origin and licence in tenants/data/common-passwords.LICENSE.
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
# Shorter usernames occur inside too many good passwords to refuse containing them.
MIN_USERNAME_TO_CHECK = 3


class WeakPassword(Invalid):
    code = "weak_password"


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_password(password: str, username: str, min_length: int) -> None:
    """Raise WeakPassword naming the first rule the password breaks."""
    if not password.strip():
        raise WeakPassword(N_("password must not be empty or only whitespace"))
    if len(password) < min_length:
        raise WeakPassword(N_("password must have at least {count} characters"), count=min_length)
    lowered, name = password.lower(), username.strip().lower()
    if name and (lowered == name or (len(name) >= MIN_USERNAME_TO_CHECK and name in lowered)):
        raise WeakPassword(N_("password must not contain the username"))
    if lowered.strip() in common_passwords():
        raise WeakPassword(
            N_("password is on the list of common (breached) passwords; choose another")
        )
