"""Coalescing: calls that queue while a round waits for its write are carried out together,
each answered on its own, and a failure stays with the calls at fault."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from territoires.broker.coalescing import Coalescer
from territoires.store.port import Unavailable


class Writes:
    """A ``run`` whose rounds wait at ``gate`` before collecting, as a round waits for its
    write turn; each item answers its double, "bad" fails its whole round."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.rounds: list[tuple[str, list[str]]] = []
        self.failure: BaseException = ValueError("bad item")
        self.at_gate: list[str] = []  # the keys of the rounds that reached the gate (append is atomic)

    def run(self, key: str, collect: Callable[[], Sequence[str]]) -> list[str]:
        self.at_gate.append(key)
        self.gate.wait(10)
        items = list(collect())
        self.rounds.append((key, items))
        if "bad" in items:
            raise self.failure
        return [item * 2 for item in items]


def submit_all(coalescer: Coalescer[str, str], calls: list[tuple[str, str]], writes: Writes,
               queued: Callable[[], bool] | None = None) -> list[object]:
    """Submit each (key, item) from its own thread; open the gate once they are all queued
    (``queued``; by default: every call is in an open round); the outcome of each call, or
    its error."""
    outcomes: list[object] = [None] * len(calls)

    def call(n: int) -> None:
        try:
            outcomes[n] = coalescer.submit(*calls[n])
        except Exception as error:  # noqa: BLE001 - the outcome is what the tests check
            outcomes[n] = error

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    queued = queued or (lambda: sum(len(round_.calls) for round_ in coalescer._open.values()) == len(calls))
    for _ in range(10_000):
        if queued():
            break
        threading.Event().wait(0.001)
    assert queued(), "the calls did not all queue"
    writes.gate.set()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_calls_queued_while_a_round_waits_share_it_and_get_their_own_outcomes() -> None:
    writes = Writes()
    coalescer: Coalescer[str, str] = Coalescer(writes.run)
    outcomes = submit_all(coalescer, [("t", item) for item in "abcdef"], writes)
    assert outcomes == ["aa", "bb", "cc", "dd", "ee", "ff"]
    assert len(writes.rounds) == 1
    assert sorted(writes.rounds[0][1]) == list("abcdef")


def test_rounds_are_per_key() -> None:
    writes = Writes()
    coalescer: Coalescer[str, str] = Coalescer(writes.run)
    outcomes = submit_all(coalescer, [("t1", "a"), ("t2", "b"), ("t1", "c"), ("t2", "d")], writes)
    assert outcomes == ["aa", "bb", "cc", "dd"]
    assert sorted((key, sorted(items)) for key, items in writes.rounds) == [("t1", ["a", "c"]), ("t2", ["b", "d"])]


def test_a_round_takes_at_most_most_calls() -> None:
    writes = Writes()
    coalescer: Coalescer[str, str] = Coalescer(writes.run, most=2)
    # Full rounds close: the fifth call leads a third round.
    outcomes = submit_all(coalescer, [("t", item) for item in "abcde"], writes, lambda: len(writes.at_gate) == 3)
    assert outcomes == ["aa", "bb", "cc", "dd", "ee"]
    assert sorted(len(items) for _, items in writes.rounds) == [1, 2, 2]


def test_a_failing_round_is_carried_out_again_call_by_call_so_only_the_call_at_fault_fails() -> None:
    writes = Writes()
    coalescer: Coalescer[str, str] = Coalescer(writes.run)
    outcomes = submit_all(coalescer, [("t", "a"), ("t", "bad"), ("t", "c")], writes)
    assert outcomes[0] == "aa" and outcomes[2] == "cc"
    assert isinstance(outcomes[1], ValueError)
    assert sorted(len(items) for _, items in writes.rounds) == [1, 1, 1, 3]


def test_a_shared_failure_is_reported_to_every_call_of_the_round_at_once() -> None:
    writes = Writes()
    writes.failure = Unavailable("the database is down")
    coalescer: Coalescer[str, str] = Coalescer(writes.run, shared_failures=(Unavailable,))
    outcomes = submit_all(coalescer, [("t", "a"), ("t", "bad"), ("t", "c")], writes)
    assert all(isinstance(outcome, Unavailable) for outcome in outcomes)
    assert len(writes.rounds) == 1


def test_a_lone_call_makes_a_round_of_its_own() -> None:
    writes = Writes()
    writes.gate.set()
    coalescer: Coalescer[str, str] = Coalescer(writes.run)
    assert coalescer.submit("t", "a") == "aa"
    assert coalescer.submit("t", "b") == "bb"
    assert writes.rounds == [("t", ["a"]), ("t", ["b"])]
    with pytest.raises(ValueError, match="bad item"):
        coalescer.submit("t", "bad")


def test_calls_from_an_event_loop_join_a_round_there_and_get_their_own_outcomes() -> None:
    writes = Writes()
    coalescer: Coalescer[str, str] = Coalescer(writes.run)

    async def main() -> tuple[list[object], int]:
        threads = threading.active_count()
        calls = [asyncio.create_task(coalescer.submit_async("t", item)) for item in ("a", "bad", "c", "d")]
        while sum(len(round_.calls) for round_ in coalescer._open.values()) < len(calls):
            await asyncio.sleep(0.001)
        added = threading.active_count() - threads  # the leader's worker thread only: the others wait here
        # A thread's call joins the same round.
        in_thread = asyncio.create_task(asyncio.to_thread(coalescer.submit, "t", "e"))
        while sum(len(round_.calls) for round_ in coalescer._open.values()) < len(calls) + 1:
            await asyncio.sleep(0.001)
        writes.gate.set()
        return await asyncio.gather(*calls, in_thread, return_exceptions=True), added

    outcomes, added = asyncio.run(main())
    assert outcomes[0] == "aa" and outcomes[2:] == ["cc", "dd", "ee"]
    assert isinstance(outcomes[1], ValueError)
    assert sorted(len(items) for _, items in writes.rounds) == [1, 1, 1, 1, 1, 5]  # one round, then one by one
    assert added <= 1
