"""Raw frames handed to the SR worker process through shared memory.

Pickling a frame through a pipe costs the acquisition's process two copies,
a feeder thread and a pipe transfer that the worker drains in 64 KiB steps,
each waking that thread again: measured, 0.8 ms more per 512² tile of a
scan. Through this ring the acquisition side makes one copy into a free slot
and sends the slot's number (a few bytes); the worker reads the frame in
place and gives the slot back when its SR is done.

Slots are fixed-size; a frame that does not fit (a larger ROI mid-run) or
finds no shared memory is sent the plain way, so nothing depends on it.
"""

from __future__ import annotations

import os
import queue
import shutil
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from srscope import logger

# leave most of /dev/shm (often only 64 MiB in containers) to everyone else
SHM_SHARE = 0.5


def shm_budget_bytes() -> int | None:
    """Bytes the ring may take in /dev/shm (Linux); None where no such limit applies."""
    if not os.path.isdir("/dev/shm"):
        return None
    try:
        return int(shutil.disk_usage("/dev/shm").free * SHM_SHARE)
    except OSError:
        return 0


class FrameRing:
    """The acquisition side: ``slots`` frames of up to ``slot_bytes`` in one shared block."""

    def __init__(self, freed: Any, slot_bytes: int, slots: int) -> None:
        budget = shm_budget_bytes()
        if budget is not None:
            slots = min(slots, budget // max(1, slot_bytes))
        if slots < 2:
            raise OSError("not enough shared memory for a frame ring")
        self.slot_bytes = int(slot_bytes)
        self.slots = int(slots)
        self.shm = SharedMemory(create=True, size=self.slot_bytes * self.slots)
        # touch every page now: first-touch faults during the scan cost more than the copy
        np.frombuffer(self.shm.buf, np.uint8)[:] = 0
        self.freed = freed  # a queue of the slot numbers the worker is done with
        self._free = list(range(self.slots))

    @property
    def name(self) -> str:
        return self.shm.name

    def put(self, image: np.ndarray) -> int | None:
        """Copy ``image`` into a free slot and return its number.

        None (never waits): the frame does not fit, or every slot is taken
        because SR is that far behind; such a frame goes the plain way.
        """
        if image.nbytes > self.slot_bytes:
            return None
        self._collect()
        if not self._free:
            return None
        slot = self._free.pop()
        view = np.ndarray(
            image.shape, image.dtype, buffer=self.shm.buf, offset=slot * self.slot_bytes
        )
        view[...] = image
        return slot

    def _collect(self) -> None:
        try:
            while True:
                self._free.append(self.freed.get_nowait())
        except queue.Empty:
            pass

    def close(self) -> None:
        try:
            self.shm.close()
            self.shm.unlink()
        except (FileNotFoundError, BufferError) as exc:
            logger.debug("frame ring: %s", exc)


class RingReader:
    """The worker side: frames read in place, slots given back."""

    def __init__(self, name: str, slot_bytes: int, freed: Any) -> None:
        # the worker shares the acquisition process's resource tracker (spawn passes
        # it on), so attaching registers nothing new and the owner's unlink ends it
        self.shm = SharedMemory(name=name)
        self.slot_bytes = slot_bytes
        self.freed = freed

    def view(self, slot: int, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        return np.ndarray(
            shape, np.dtype(dtype), buffer=self.shm.buf, offset=slot * self.slot_bytes
        )

    def release(self, slot: int) -> None:
        self.freed.put(slot)

    def close(self) -> None:
        try:
            self.shm.close()
        except BufferError as exc:  # a view still alive: the mapping goes with the process
            logger.debug("frame ring: %s", exc)
