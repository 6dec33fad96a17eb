"""In-process login defence: failure limits per username and per client IP, and a bounded
number of password checks at once.

A password check (argon2) costs ~0.2 s of CPU by design. Without a bound, a flood of wrong
passwords needs no credentials to take every core; the limits answer 429 before any hashing, and
the slots keep at most a few checks running (and a few waiting) whatever the load. The state is
per server process: with several workers each has its own windows, while the account lockout
(on the user row) is shared.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from soc.core.errors import DomainError
from soc.core.i18n import N_
from soc.core.settings import Settings

# Keys an attacker can mint (usernames, IPs) are bounded: past this many, the oldest are dropped.
MAX_KEYS = 50_000


T = TypeVar("T")


class TooManyAttempts(DomainError):
    """429: the caller should retry after `retry_after` seconds."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int, **params: object) -> None:
        super().__init__(message, **params)
        self.retry_after = max(1, retry_after)


class SlidingWindow:
    """The last `limit` failure times per key; a key at its limit within `seconds` is blocked
    until its oldest failure leaves the window."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked_for(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None or len(hits) < self.limit:
                return 0.0
            return max(0.0, hits[0] + self.seconds - now)

    def add(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque(maxlen=self.limit)
            hits.append(now)
            self._hits[key] = hits  # most recent last, so the oldest keys go first
            while len(self._hits) > MAX_KEYS:
                self._hits.popitem(last=False)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


@dataclass
class LoginGuard:
    """Rate limits, lockout thresholds and the password-check slots of one server process."""

    user_failures: int = 10
    ip_failures: int = 30
    window_seconds: float = 300
    lockout_failures: int = 10
    lockout_minutes: int = 15
    hash_slots: int = 1
    hash_queue: int = 8
    hash_wait_seconds: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _users: SlidingWindow = field(init=False, repr=False)
    _ips: SlidingWindow = field(init=False, repr=False)
    _slots: threading.Semaphore = field(init=False, repr=False)
    _admission: threading.Semaphore = field(init=False, repr=False)
    _hasher: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hasher = ThreadPoolExecutor(
            self.hash_slots, thread_name_prefix="password-check", initializer=_yield_the_cpu
        )
        self._users = SlidingWindow(self.user_failures, self.window_seconds, self.clock)
        self._ips = SlidingWindow(self.ip_failures, self.window_seconds, self.clock)
        self._slots = threading.Semaphore(self.hash_slots)
        self._admission = threading.Semaphore(self.hash_slots + self.hash_queue)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginGuard:
        return cls(
            user_failures=settings.login_user_failures,
            ip_failures=settings.login_ip_failures,
            window_seconds=settings.login_window_seconds,
            lockout_failures=settings.login_lockout_failures,
            lockout_minutes=settings.login_lockout_minutes,
            hash_slots=settings.login_hash_slots,
            hash_queue=settings.login_hash_queue,
            hash_wait_seconds=settings.login_hash_wait_seconds,
        )

    def check(self, username: str, client_ip: str | None) -> None:
        """Refuse (429) a username or client IP with too many recent failures."""
        wait = max(self._users.blocked_for(username), self.ip_blocked_for(client_ip))
        if wait > 0:
            raise TooManyAttempts(
                N_("too many failed logins; try again in {seconds} s"),
                math.ceil(wait),
                seconds=math.ceil(wait),
            )

    def ip_blocked_for(self, client_ip: str | None) -> float:
        """Seconds until this client IP may try again (0: it may now)."""
        return self._ips.blocked_for(client_ip) if client_ip else 0.0

    def failed(self, username: str, client_ip: str | None) -> None:
        self._users.add(username)
        if client_ip:
            self._ips.add(client_ip)

    def succeeded(self, username: str) -> None:
        self._users.clear(username)

    def check_password(self, verify: Callable[[], T]) -> T:
        """Run a password check on the guard's low-priority threads (inside `hashing`): an
        argon2 burst then takes the CPU only when request work leaves it idle."""
        return self._hasher.submit(verify).result()

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one password-check slot; 429 when the slots and the short queue are full, or
        no slot frees up within `hash_wait_seconds`."""
        busy = TooManyAttempts(N_("too many logins at once; try again shortly"), 1)
        if not self._admission.acquire(blocking=False):
            raise busy
        try:
            if not self._slots.acquire(timeout=self.hash_wait_seconds):
                raise busy
            try:
                yield
            finally:
                self._slots.release()
        finally:
            self._admission.release()


def _yield_the_cpu() -> None:
    """Lowest scheduling priority for this thread (Linux keeps a nice value per thread)."""
    # Not Linux, or not allowed: the check runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
