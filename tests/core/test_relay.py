"""srscope.relay.Relay: newest wins or all in order, stop drains or drops, an idle relay sleeps.

No wall-clock bounds: the tests hold the relay's function on an event to make
items wait, and the timeouts below only keep a broken relay from hanging the run.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from srscope.relay import Relay

SAFETY_S = 30.0  # never reached by a working relay


class Gated:
    """A relay function that records its items and holds the first until released."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.first_taken = threading.Event()
        self.gate = threading.Event()

    def __call__(self, item: int) -> int:
        if not self.first_taken.is_set():
            self.first_taken.set()
            assert self.gate.wait(SAFETY_S)
        self.seen.append(item)
        return item * 10


def relay_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def held_relay(policy: str, name: str) -> tuple[Relay[int, int], Gated]:
    """A started relay whose thread is busy with item 0 until ``fn.gate`` is set."""
    fn = Gated()
    relay: Relay[int, int] = Relay(fn, policy, name=name).start()  # type: ignore[arg-type]
    relay.submit(0)
    assert fn.first_taken.wait(SAFETY_S)
    return relay, fn


def test_latest_policy_delivers_the_newest_and_counts_the_dropped() -> None:
    results: list[tuple[int, int]] = []
    relay, fn = held_relay("latest", "t-latest")
    relay.on_result = lambda item, result: results.append((item, result))
    for item in (1, 2, 3):
        relay.submit(item)
    assert relay.pending() == 1 and relay.dropped == 2
    fn.gate.set()
    relay.stop(drain=True)
    assert fn.seen == [0, 3]
    assert results == [(0, 0), (3, 30)]
    assert (relay.submitted, relay.done, relay.dropped) == (4, 2, 2)


def test_all_policy_delivers_every_item_in_order_and_a_draining_stop_finishes_them() -> None:
    relay, fn = held_relay("all", "t-all")
    for item in range(1, 20):
        relay.submit(item)
    assert relay.pending() == 19
    fn.gate.set()
    relay.stop(drain=True)
    assert fn.seen == list(range(20))
    assert relay.dropped == 0 and relay.pending() == 0


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_stop_without_drain_drops_what_waits_and_finishes_the_item_in_hand(policy: str) -> None:
    name = f"t-drop-{policy}"
    relay, fn = held_relay(policy, name)
    relay.submit(1)
    relay.submit(2)
    stopper = threading.Thread(target=relay.stop)  # waits for item 0 to finish
    stopper.start()
    while relay.pending():  # the stop has dropped what waited
        time.sleep(0.001)
    fn.gate.set()
    stopper.join(SAFETY_S)
    assert fn.seen == [0]
    assert not relay.running and not relay_threads(name)


@pytest.mark.parametrize("policy", ["latest", "all"])
def test_stop_wakes_an_idle_relay_and_its_thread_exits(policy: str) -> None:
    name = f"t-idle-{policy}"
    relay: Relay[int, int] = Relay(lambda x: x, policy, name=name).start()  # type: ignore[arg-type]
    (thread,) = relay_threads(name)
    relay.stop()
    thread.join(SAFETY_S)
    assert not thread.is_alive() and not relay.running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_idle_relay_sleeps_until_an_item_comes() -> None:
    """No polling: the idle thread is not woken at all while nothing is submitted."""
    name = "t-sleeps"
    relay: Relay[int, int] = Relay(lambda x: x, "latest", name=name).start()
    (thread,) = relay_threads(name)

    def wakeups() -> int:
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches"))
        return int(line.split()[1])

    before = wakeups()
    time.sleep(0.3)  # a 50 ms poll would wake it about six times here
    assert wakeups() - before <= 1
    relay.stop()


def test_an_error_in_fn_is_reported_and_the_relay_carries_on() -> None:
    errors: list[tuple[int, str]] = []

    def fn(item: int) -> int:
        if item == 1:
            raise ValueError("bad item")
        return item

    relay: Relay[int, int] = Relay(
        fn, "all", name="t-errors", on_error=lambda item, exc: errors.append((item, str(exc)))
    ).start()
    for item in range(3):
        relay.submit(item)
    relay.stop(drain=True)
    assert errors == [(1, "bad item")]
    assert (relay.done, relay.failures) == (2, 1)


def test_a_callback_may_stop_its_own_relay() -> None:
    name = "t-self-stop"
    relay: Relay[int, int] = Relay(lambda x: x, "all", name=name)
    relay.on_result = lambda item, result: relay.stop()
    relay.start()
    (thread,) = relay_threads(name)
    relay.submit(1)
    thread.join(SAFETY_S)
    assert not thread.is_alive() and relay.done == 1
