"""A worker's log records reach the parent, and a killed worker cannot hang the parent."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading

from acquisition.worker_logging import LogForwarder, forward_to_parent
from srscope import logger


def _chatty_child(queue, level) -> None:
    """Log as fast as possible until killed (a kill lands mid-write sooner or later)."""
    forward_to_parent(queue, level)
    i = 0
    while True:
        logger.warning("record %d", i)
        i += 1


def test_a_worker_killed_mid_logging_does_not_hang_the_parent(caplog):
    ctx = multiprocessing.get_context("spawn")
    caplog.set_level(logging.WARNING, logger="srscope")
    logs = LogForwarder(ctx).start()
    child = ctx.Process(target=_chatty_child, args=(logs.queue, logging.WARNING), daemon=True)
    child.start()
    try:
        for _ in range(600):  # until its records arrive (spawning takes a moment)
            if any(r.getMessage().startswith("record ") for r in caplog.records):
                break
            threading.Event().wait(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        stopper = threading.Thread(target=logs.stop)
        stopper.start()
        stopper.join(30)  # a bound for a failing run only: stop returns at once
        assert not stopper.is_alive()
        received = [r for r in caplog.records if r.getMessage().startswith("record ")]
        assert received and received[0].getMessage() == "record 0"  # in order, from the start
    finally:
        if child.is_alive():
            child.kill()
