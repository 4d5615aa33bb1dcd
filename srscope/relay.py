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

    The thread sleeps on one condition that both :meth:`submit` and :meth:`stop`
    signal: an idle relay takes no CPU (no polling) and a stop wakes it at once.
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
        # what waits for the thread: at most one entry with policy "latest"
        self._waiting: collections.deque[tuple[T, float]] = collections.deque()
        self._cond = threading.Condition()  # guards _waiting, _stopping, _dropped
        self._stopping = False
        self._dropped = 0
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
            with self._cond:
                self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self, drain: bool = False, timeout: float = 60.0) -> None:
        """Stop the thread and wait up to ``timeout`` s for it to end.

        Without ``drain`` what is waiting is dropped; the item being processed
        is finished. With ``drain`` everything submitted is processed first
        (policy "latest": the newest waiting item). Called from the relay
        thread itself (a callback), it returns at once and the thread ends
        after the callback.
        """
        thread = self._thread
        if thread is None:
            return
        on_thread = thread is threading.current_thread()
        with self._cond:
            if not drain:
                self._waiting.clear()
            elif not on_thread:  # the thread wakes us each time it takes an item
                self._cond.wait_for(lambda: not self._waiting, timeout)
            self._stopping = True
            self._cond.notify_all()
        if not on_thread:
            thread.join(timeout)
        self._thread = None

    # -- producer side -------------------------------------------------------------
    def submit(self, item: T) -> None:
        """Hand over ``item``; returns at once (an unread older item may be dropped)."""
        entry = (item, time.perf_counter())
        with self._cond:
            self.submitted += 1
            if self.policy == "latest" and self._waiting:
                self._waiting.clear()
                self._dropped += 1
            self._waiting.append(entry)
            self._cond.notify_all()

    @property
    def dropped(self) -> int:
        """Items replaced before the thread took them (always 0 with policy "all")."""
        return self._dropped

    def pending(self) -> int:
        """Items submitted and not taken yet."""
        return len(self._waiting)

    # -- the thread ------------------------------------------------------------------
    def _next(self) -> tuple[T, float] | None:
        """The next item to process; None when stopped (policy "all": once none waits)."""
        with self._cond:
            self._cond.wait_for(lambda: self._waiting or self._stopping)
            if self._stopping and (self.policy == "latest" or not self._waiting):
                return None  # stopped: a stale newest item is not worth processing
            entry = self._waiting.popleft()
            self._cond.notify_all()  # a draining stop() waits for the queue to empty
            return entry

    def _run(self) -> None:
        while (entry := self._next()) is not None:
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
