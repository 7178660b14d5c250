"""Repeated failed authentications from one client address: refused with 429 and Retry-After once
the allowance of the window is used up, slowed down before that, in bounded memory."""

from __future__ import annotations

import asyncio

import pytest

from territoires.auth.errors import TooManyRequests
from territoires.auth.throttle import MAX_DELAY, FailedAuthThrottle, delay_after
from territoires.config import Settings


class Clock:
    def __init__(self, at: float = 1000.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def throttle(limit: int = 4, window: float = 60.0, clock: Clock | None = None, **options) -> FailedAuthThrottle:
    settings = Settings(auth_failure_limit=limit, auth_failure_window=window)
    return FailedAuthThrottle(settings, clock or Clock(), **options)


def fail(guard: FailedAuthThrottle, address: str, times: int = 1) -> list[float]:
    return [asyncio.run(guard.failed(address)) for _ in range(times)]


def test_an_address_that_used_up_its_failures_is_refused_until_the_window_passes():
    clock = Clock()
    guard = throttle(limit=4, window=60, clock=clock)
    for _ in range(3):
        guard.check("192.0.2.1")
        fail(guard, "192.0.2.1")
        clock.at += 0.001
    guard.check("192.0.2.1")
    clock.at = 1010.0
    asyncio.run(guard.failed("192.0.2.1"))
    with pytest.raises(TooManyRequests) as caught:
        guard.check("192.0.2.1")
    refusal = caught.value
    assert refusal.status == 429
    assert refusal.headers == {"Retry-After": "50"}  # the first failure (t=1000) leaves the window at 1060
    assert "too many failed authentications" in refusal.detail and "4" in refusal.detail
    guard.check("198.51.100.7")  # another address is not concerned
    clock.at = 1059.0
    with pytest.raises(TooManyRequests) as caught:
        guard.check("192.0.2.1")
    assert caught.value.headers == {"Retry-After": "1"}
    clock.at = 1060.01  # the sliding window dropped the first three failures: one of four used
    guard.check("192.0.2.1")


def test_each_failure_beyond_half_the_allowance_is_answered_later_and_later_up_to_two_seconds():
    assert [delay_after(n, 10) for n in range(1, 11)] == [0, 0, 0, 0, 0, 0.25, 0.5, 1.0, 2.0, 2.0]
    assert max(delay_after(n, 100) for n in range(1, 101)) == MAX_DELAY
    assert delay_after(5, 0) == 0


def test_failed_waits_the_delay_it_earns():
    guard = throttle(limit=4)
    assert fail(guard, "192.0.2.1", 3) == [0.0, 0.0, 0.25]


def test_an_accepted_credential_forgets_the_address_s_failures():
    guard = throttle(limit=2)
    fail(guard, "192.0.2.1", 2)
    with pytest.raises(TooManyRequests):
        guard.check("192.0.2.1")
    guard.succeeded("192.0.2.1")
    guard.check("192.0.2.1")
    assert len(guard) == 0


def test_no_allowance_turns_the_throttle_off():
    guard = throttle(limit=0)
    assert fail(guard, "192.0.2.1", 50) == [0.0] * 50
    guard.check("192.0.2.1")
    assert len(guard) == 0


def test_memory_stays_bounded_by_forgetting_old_and_least_recent_addresses():
    clock = Clock()
    guard = throttle(limit=2, window=60, clock=clock, max_addresses=100)
    for n in range(1000):
        clock.at += 0.01
        fail(guard, f"10.0.{n // 256}.{n % 256}")
    assert len(guard) == 100
    with pytest.raises(TooManyRequests):  # the most recent addresses are remembered
        fail(guard, "10.0.3.231")
        guard.check("10.0.3.231")
    guard.check("10.0.0.0")  # the oldest was dropped
    clock.at += 61  # every failure left the window: the next one sweeps them out
    fail(guard, "203.0.113.5")
    assert len(guard) == 1
