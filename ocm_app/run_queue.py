"""At most N model runs at once across every session of the server, first come first served.

Streamlit runs each session's script in its own thread of one process, so a process-wide
:class:`RunGate` (a FIFO of tickets under a condition variable) bounds the runs, and with them
the memory they hold. A visitor who has to wait sees their place in the queue and a progress
element that the waiting thread refreshes (:func:`queued_slot`); when the visitor leaves or
reruns, Streamlit stops the thread at the next element update and the ticket is given back.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ocm_app import config

_LOG = logging.getLogger(__name__)
#: Seconds between two refreshes of a waiting visitor's queue place.
POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class QueueState:
    """A waiting run's place.

    Attributes:
        position: Runs ahead of this one in the queue (1: next).
        running: Runs in progress now.
        limit: Runs allowed at once.
        waited_s: Seconds waited so far.
    """

    position: int
    running: int
    limit: int
    waited_s: float


class RunGate:
    """A first-come-first-served gate letting ``limit`` runs through at once.

    Args:
        limit: Runs at once (at least 1).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self._cond = threading.Condition()
        self._waiting: list[int] = []
        self._running = 0
        self._tickets = itertools.count()
        self.peak_running = 0
        self.longest_wait_s = 0.0

    @property
    def running(self) -> int:
        """Runs in progress."""
        with self._cond:
            return self._running

    @property
    def waiting(self) -> int:
        """Runs waiting."""
        with self._cond:
            return len(self._waiting)

    @contextlib.contextmanager
    def slot(self, on_wait: Callable[[QueueState], None] | None = None) -> Iterator[float]:
        """Hold one of the ``limit`` slots for the ``with`` block; yields the seconds waited.

        Args:
            on_wait: Called (outside the lock) about every :data:`POLL_S` while waiting, with the
                queue place; an exception from it (Streamlit stopping the script) leaves the queue.
        """
        ticket = next(self._tickets)
        start = time.monotonic()
        with self._cond:
            self._waiting.append(ticket)
        try:
            while True:
                with self._cond:
                    head = self._waiting.index(ticket)
                    if head < self.limit - self._running and head == 0:
                        self._waiting.pop(0)
                        self._running += 1
                        self.peak_running = max(self.peak_running, self._running)
                        break
                    state = QueueState(head + 1, self._running, self.limit, time.monotonic() - start)
                if on_wait is not None:
                    on_wait(state)
                with self._cond:
                    if ticket in self._waiting and not (self._waiting[0] == ticket and self._running < self.limit):
                        self._cond.wait(POLL_S)
        except BaseException:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
            raise
        waited = time.monotonic() - start
        with self._cond:
            self.longest_wait_s = max(self.longest_wait_s, waited)
        try:
            yield waited
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


_GATE: RunGate | None = None
_GATE_LOCK = threading.Lock()


def gate() -> RunGate:
    """The server's gate (limit from :func:`ocm_app.config.max_concurrent_runs`, read once per process)."""
    global _GATE
    with _GATE_LOCK:
        if _GATE is None:
            _GATE = RunGate(config.max_concurrent_runs())
            _LOG.info("model runs at once: %d", _GATE.limit)
        return _GATE


@contextlib.contextmanager
def queued_slot(label: str = "Your run") -> Iterator[float]:
    """:meth:`RunGate.slot` with the visitor's place shown (a status line and a progress element).

    Yields:
        Seconds waited.
    """
    import streamlit as st

    holder = st.empty()
    shown = False

    def show(state: QueueState) -> None:
        nonlocal shown
        shown = True
        with holder.container():
            st.info(f"{label} is waiting: place {state.position} in the queue ({state.running} of {state.limit} "
                    f"runs in progress on this server). Waited {state.waited_s:.0f} s; keep this page open.",
                    icon=":material/hourglass_top:")
            st.progress(min(0.95, state.waited_s / (state.waited_s + 10.0 * state.position)),
                        text=f"Queue place {state.position}")

    with gate().slot(show) as waited:
        if shown:
            holder.empty()
        yield waited


__all__ = ["POLL_S", "QueueState", "RunGate", "gate", "queued_slot"]
