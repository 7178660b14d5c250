"""Slowing down repeated failed authentications from one client address.

After ``auth_failure_limit`` failures within ``auth_failure_window`` seconds (a sliding window),
further attempts from that address are refused with ``TooManyRequests`` (429, ``Retry-After``)
until the oldest of those failures leaves the window. Before that, each failure beyond half the
allowance is answered late, by a delay doubling from ``FIRST_DELAY`` up to ``MAX_DELAY``: a
person who mistyped a key hardly notices, a guesser slows down. 0 failures allowed: no throttle.

The failures are kept in the process's memory, not in the database: the window is short (a
minute), so nothing worth keeping is lost at a restart, and an attacker spreading attempts over
several workers still meets each one's limit, which bounds them to a small multiple of it —
while a database write per failed attempt would hand the attacker a cheap way to load the
database. Memory is bounded: addresses whose failures have all left the window are forgotten,
and beyond ``max_addresses`` the address that failed least recently is dropped.

The edge calls ``check`` before verifying a credential, then ``failed`` or ``succeeded``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from territoires.auth.errors import TooManyRequests
from territoires.config import Settings

FIRST_DELAY = 0.25  # seconds added to the first failure beyond half the allowance
MAX_DELAY = 2.0  # the most any failure is delayed
MAX_ADDRESSES = 100_000  # addresses remembered at most (about 200 bytes each)


def delay_after(failures: int, allowed: int) -> float:
    """Seconds to wait before answering the ``failures``-th failure within the window."""
    beyond = failures - allowed // 2
    if allowed <= 0 or beyond <= 0:
        return 0.0
    return min(MAX_DELAY, FIRST_DELAY * 2 ** (beyond - 1))


class FailedAuthThrottle:
    """Failed authentications per client address (``clock``: monotonic seconds)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic, *,
                 max_addresses: int = MAX_ADDRESSES) -> None:
        self.allowed = settings.auth_failure_limit
        self.window = settings.auth_failure_window
        self.clock = clock
        self.max_addresses = max_addresses
        self._lock = threading.Lock()
        # address -> times of its failures within the window, least recently failed first
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def check(self, address: str) -> None:
        """``TooManyRequests`` if ``address`` has used up its failures in the window."""
        if self.allowed <= 0:
            return
        now = self.clock()
        with self._lock:
            times = self._recent(address, now)
            if times is None or len(times) < self.allowed:
                return
            retry = math.ceil(times[0] + self.window - now)
        raise TooManyRequests(f"too many failed authentications from this address ({self.allowed} within "
                              f"{self.window:g} s); retry in {retry} s", retry_after=retry)

    async def failed(self, address: str) -> float:
        """Record a failed authentication from ``address`` and wait the delay it earns; returns
        that delay in seconds."""
        if self.allowed <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                times = self._failures[address] = deque(maxlen=self.allowed)
            times.append(now)
            self._failures.move_to_end(address)
            self._evict(now)
            delay = delay_after(len(times), self.allowed)
        if delay:
            await asyncio.sleep(delay)
        return delay

    def succeeded(self, address: str) -> None:
        """A credential from ``address`` was accepted: its failures are forgotten."""
        with self._lock:
            self._failures.pop(address, None)

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._failures)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        """The failures of ``address`` still in the window (None: none). Under the lock."""
        times = self._failures.get(address)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def _evict(self, now: float) -> None:
        """Forget addresses whose last failure left the window, then the least recently failed
        beyond the bound. Under the lock."""
        while self._failures:
            address, times = next(iter(self._failures.items()))
            if times[-1] > now - self.window and len(self._failures) <= self.max_addresses:
                break
            del self._failures[address]
