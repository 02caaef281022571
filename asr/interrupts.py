"""Stopping a long job cleanly on SIGTERM or SIGINT (Ctrl+C).

`StopRequests` turns the first SIGTERM or SIGINT into a flag the job checks at
a safe point (after a training step, after a file); the job then saves what
it must and raises `Interrupted`, which the CLI reports in one line with exit
status `INTERRUPTED_EXIT`. A second signal interrupts at once (the default
handlers are back after the first).

    with StopRequests() as stop:
        for item in work:
            if stop.requested:
                raise Interrupted(f"stopped by {stop.requested}; ...")
            do(item)

Outside the main thread (where Python cannot install handlers) the flag
never rises and the signals keep their default behaviour.
"""

from __future__ import annotations

import logging
import signal
import threading

logger = logging.getLogger(__name__)

# `asr` exits with this status after a clean stop on a signal (sysexits.h's
# EX_TEMPFAIL: run the same command again to go on).
INTERRUPTED_EXIT = 75

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """A job stopped cleanly on a signal; the message says what was kept and
    how to go on."""


class StopRequests:
    """Context manager: while inside, the first SIGTERM/SIGINT sets
    `requested` (the signal's name) instead of ending the process.

    Attributes:
        requested: None, or "SIGTERM" / "SIGINT" once one arrived.
    """

    def __init__(self, signals: tuple[int, ...] = SIGNALS):
        self.signals = signals
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.requested = signal.Signals(signum).name
        logger.warning(
            "%s received: stopping at the next safe point (send it again to "
            "stop at once)",
            self.requested,
        )
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()
