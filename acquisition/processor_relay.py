"""Runs a :class:`~acquisition.processor.FrameProcessor` beside acquisition.

The frame processor on :class:`srscope.relay.Relay` (the one newest-wins / in-order
relay every part uses), with psygnal signals that carry each result with the
metadata of its input frame, and the processor's optional ``finish``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from psygnal import Signal

from acquisition.models import FrameMeta
from acquisition.processor import FinishingProcessor, FrameProcessor, is_hands_off
from srscope import logger
from srscope.errors import SrscopeError
from srscope.relay import Relay

Item = tuple[np.ndarray, FrameMeta]


class ProcessorRelay:
    """Runs a :class:`FrameProcessor` beside acquisition; ``submit`` never blocks.

    ``policy="latest"`` (live view): only the newest waiting frame is processed,
    older ones are dropped and counted. ``policy="all"`` (scans): every frame is
    queued and processed, possibly after acquisition has finished (``stop(drain=True)``).
    """

    processed = Signal(object, object)  # (result array, FrameMeta)
    failed = Signal(object, object)  # (exception, FrameMeta)

    def __init__(
        self, processor: FrameProcessor, policy: Literal["latest", "all"] = "latest"
    ) -> None:
        if not isinstance(processor, FrameProcessor):
            raise SrscopeError(f"{processor!r} is not a FrameProcessor (no process method)")
        self.processor = processor
        self.policy = policy
        self._latest: Item | None = None
        self._relay: Relay[Item, np.ndarray | None] = Relay(
            self._process,
            policy,
            name="srscope-processor",
            on_result=self._on_result,
            on_error=self._on_error,
        )

    # -- counters -------------------------------------------------------------------
    @property
    def submitted(self) -> int:
        return self._relay.submitted

    @property
    def done(self) -> int:
        return self._relay.done

    @property
    def errors(self) -> int:
        return self._relay.failures

    @property
    def dropped(self) -> int:
        return self._relay.dropped

    @property
    def busy_s(self) -> float:
        return self._relay.busy_s

    def pending(self) -> int:
        return self._relay.pending()

    @property
    def inline(self) -> bool:
        """Frames go straight to a hands-off processor (no copy needed by the caller)."""
        return self.policy == "all" and is_hands_off(self.processor)

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> ProcessorRelay:
        if not self.inline:
            self._relay.start()
        return self

    def submit(self, image: np.ndarray, meta: FrameMeta) -> None:
        if self.inline:
            self._relay.submitted += 1
            self._relay.apply((image, meta))
        else:
            self._relay.submit((image, meta))

    def latest(self) -> Item | None:
        """The newest processed result and the metadata of its input frame."""
        return self._latest

    def stop(self, drain: bool = False, timeout: float = 60.0) -> None:
        """Stop the relay; with ``drain`` process what is queued first.

        After a drain, the processor's optional ``finish()`` is called (close
        its outputs, write its mosaic): the end of the acquisition.
        """
        self._relay.stop(drain=drain, timeout=timeout)
        if drain and isinstance(self.processor, FinishingProcessor):
            try:
                self.processor.finish()
            except Exception:  # a processor's bug is counted and logged, the stop completes
                self._relay.failures += 1
                logger.exception("frame processor failed to finish")

    # -- relay thread -----------------------------------------------------------------
    def _process(self, item: Item) -> np.ndarray | None:
        return self.processor.process(*item)

    def _on_result(self, item: Item, result: np.ndarray | None) -> None:
        if result is not None:
            self._latest = (result, item[1])
            self.processed.emit(result, item[1])

    def _on_error(self, item: Item, exc: Exception) -> None:
        logger.error("frame processor failed on frame %d: %s", item[1].index, exc, exc_info=exc)
        self.failed.emit(exc, item[1])
