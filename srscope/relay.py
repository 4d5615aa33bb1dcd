"""Hand work from a thread that must never wait to a worker thread: newest wins, or all.

The one relay every part uses for slow consumers (super-resolution, displays,
overlays): acquisition's processor relay, the viewer's live SR, viewport SR and
consistency map are all a :class:`Relay` with their own function.

- :class:`LatestSlot` — a one-item mailbox; a ``put`` over an unread item drops
  (and counts) the older one. The producer never blocks.
- :class:`Relay` — a daemon thread applying a function to what is submitted:
  ``policy="latest"`` takes only the newest waiting item (live views; stale items
  are dropped and counted), ``policy="all"`` queues every item in order (scans;
  ``stop(drain=True)`` finishes the queue). Results and errors go to callbacks
  called on the relay thread.

Only the standard library: any part may import it.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from srscope._logger import logger

T = TypeVar("T")
R = TypeVar("R")

Policy = Literal["latest", "all"]


class LatestSlot(Generic[T]):
    """A thread-safe slot holding only the newest item; counts what was overwritten.

    ``take`` returns at once (GUI timers); ``get`` waits up to a timeout (threads).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._fresh = False
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._fresh:
                self.dropped += 1
            self._item, self._fresh = item, True
            self.received += 1
            self._cond.notify_all()

    def take(self) -> T | None:
        """The newest item if not taken yet (it stays readable with :meth:`peek`), else None."""
        with self._cond:
            if not self._fresh:
                return None
            self._fresh = False
            return self._item

    def get(self, timeout: float | None = None) -> T | None:
        """The newest unread item, waiting up to ``timeout`` seconds; None if none came."""
        with self._cond:
            if not self._fresh and not self._cond.wait_for(lambda: self._fresh, timeout):
                return None
            item, self._item, self._fresh = self._item, None, False
            return item

    def peek(self) -> T | None:
        """The last item put (read or not), without taking it."""
        with self._cond:
            return self._item

    @property
    def pending(self) -> bool:
        """An item is waiting to be read."""
        return self._fresh

    def clear(self) -> None:
        with self._cond:
            self._item, self._fresh = None, False

    def wake(self) -> None:
        """Wake a thread waiting in :meth:`get` (it returns None if nothing came)."""
        with self._cond:
            self._cond.notify_all()


class Relay(Generic[T, R]):
    """A daemon thread applying ``fn`` to submitted items; ``submit`` never blocks.

    ``on_result(item, result)`` and ``on_error(item, exc)`` run on the relay
    thread; an exception in ``fn`` is counted and reported, never raised into the
    producer, and the relay carries on. ``latency_ms`` holds the last
    ``history`` submit-to-result times, ``done_at`` their completion times.
    """

    def __init__(
        self,
        fn: Callable[[T], R],
        policy: Policy = "latest",
        *,
        name: str = "srscope-relay",
        on_result: Callable[[T, R], None] | None = None,
        on_error: Callable[[T, Exception], None] | None = None,
        history: int = 200,
    ) -> None:
        if policy not in ("latest", "all"):
            raise ValueError(f"policy must be 'latest' or 'all', got {policy!r}")
        self.fn = fn
        self.policy: Policy = policy
        self.name = name
        self.on_result = on_result
        self.on_error = on_error
        self._slot: LatestSlot[tuple[T, float]] = LatestSlot()
        self._queue: collections.deque[tuple[T, float]] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.submitted = 0
        self.done = 0
        self.failures = 0
        self.busy = False
        self.busy_s = 0.0
        self.latency_ms: collections.deque[float] = collections.deque(maxlen=history)
        self.done_at: collections.deque[float] = collections.deque(maxlen=history)

    # -- life cycle -------------------------------------------------------------
    def start(self) -> Relay[T, R]:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self, drain: bool = False, timeout: float = 60.0) -> None:
        """Stop the thread; with ``drain`` first process everything waiting."""
        if self._thread is None:
            return
        if drain:
            deadline = time.monotonic() + timeout
            while self.pending() and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            with self._cond:
                self._queue.clear()
            self._slot.clear()
        self._stop.set()
        self._slot.wake()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    # -- producer side -------------------------------------------------------------
    def submit(self, item: T) -> None:
        """Hand over ``item``; returns at once (an unread older item may be dropped)."""
        self.submitted += 1
        entry = (item, time.perf_counter())
        if self.policy == "latest":
            self._slot.put(entry)
        else:
            with self._cond:
                self._queue.append(entry)
                self._cond.notify()

    @property
    def dropped(self) -> int:
        """Items replaced before the thread took them (always 0 with policy "all")."""
        return self._slot.dropped

    def pending(self) -> int:
        """Items submitted and not taken yet."""
        return len(self._queue) if self.policy == "all" else int(self._slot.pending)

    # -- the thread ------------------------------------------------------------------
    def _next(self) -> tuple[T, float] | None:
        if self.policy == "latest":
            return self._slot.get(timeout=0.05)
        with self._cond:
            if not self._queue:
                self._cond.wait(0.05)
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        while True:
            entry = self._next()
            if entry is None:
                if self._stop.is_set():
                    return
                continue
            if self._stop.is_set() and self.policy == "latest":
                return  # stopped: a stale newest item is not worth processing
            self.apply(*entry)

    def apply(self, item: T, submitted_at: float | None = None) -> None:
        """Run ``fn`` on ``item`` here (the relay thread, or a caller that needs no thread)."""
        t0 = time.perf_counter()
        self.busy = True
        try:
            result = self.fn(item)
        except Exception as exc:  # a consumer's bug must not stop the producer
            self.failures += 1
            if self.on_error is None:
                logger.exception("%s failed", self.name)
            else:
                self.on_error(item, exc)
            return
        finally:
            self.busy = False
            self.busy_s += time.perf_counter() - t0
        now = time.perf_counter()
        self.done += 1
        self.latency_ms.append((now - (submitted_at or t0)) * 1e3)
        self.done_at.append(now)
        if self.on_result is not None:
            self.on_result(item, result)

    def fps(self) -> float:
        """Results per second over the recent history."""
        done = list(self.done_at)
        return (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else 0.0
