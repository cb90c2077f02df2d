"""The model runs on one worker thread; the server's event loop never waits on it.

PyTorch work blocks, so it cannot run on the asyncio event loop (every other
request would freeze). Instead each request becomes a *job*: an iterator (e.g.
text pieces from the generation engine) that the worker thread advances. Up to
``max_active`` jobs are interleaved round-robin, one step (one token) each, so a
long reply does not hold up a short one and a new request's first token comes
after at most one step of each other active job. Further jobs wait in a bounded
queue; when it is full, submitting fails at once (the server answers 429).

For a Transformer the generation jobs are rows of one continuous batch
(:class:`~lmforge.serve.backend.Batcher`): the first job of a round to need a
token runs one batched decoding step for every row, the others find theirs
ready, so a round of this loop is one forward pass for all active requests.
Jobs admitted together are all *started* (their iterators created, which is
when a generation joins the batch) before any of them takes a step, so a burst
of requests is prefilled in one forward pass instead of one after another.

Results travel back to the event loop with ``loop.call_soon_threadsafe``. A
cancelled job (client disconnected) is closed before its next step, which stops
the engine and frees its KV cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from lmforge.errors import LmforgeError

_END = object()


class QueueFull(LmforgeError):
    """Every active slot is busy and the waiting queue is full."""


class WorkerStopped(LmforgeError):
    """The server is shutting down."""


class Job:
    """One request's work as seen from both sides: the worker pushes items, the event loop reads them."""

    def __init__(self, make_steps: Callable[[], Iterator[Any]], loop: asyncio.AbstractEventLoop) -> None:
        self.make_steps, self.loop = make_steps, loop
        self.items: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()
        self.steps: Iterator[Any] | None = None

    def push(self, item: Any) -> None:
        """Called on the worker thread."""
        self.loop.call_soon_threadsafe(self.items.put_nowait, item)

    def cancel(self) -> None:
        self.cancelled.set()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while (item := await self.items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def collect(self) -> list[Any]:
        return [item async for item in self]


class Worker:
    def __init__(self, max_active: int = 4, max_waiting: int = 64) -> None:
        if max_active < 1 or max_waiting < 0:
            raise LmforgeError(f"max_active must be >= 1 and max_waiting >= 0, got {max_active}, {max_waiting}")
        self.max_active, self.max_waiting = max_active, max_waiting
        self._waiting: deque[Job] = deque()
        self._active: deque[Job] = deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lmforge-model-worker", daemon=True)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._active)

    def start(self) -> None:
        self._thread.start()

    def submit(self, make_steps: Callable[[], Iterator[Any]]) -> Job:
        """Queue a job (call from the event loop); its iterator is created and run on the worker thread."""
        job = Job(make_steps, asyncio.get_running_loop())
        with self._wake:
            if self._stopping:
                raise WorkerStopped("the server is shutting down")
            if len(self._active) + len(self._waiting) >= self.max_active + self.max_waiting:
                raise QueueFull(f"the server is busy ({self.max_active} requests running, {self.max_waiting} "
                                "waiting); retry shortly")
            self._waiting.append(job)
            self._wake.notify()
        return job

    def stop(self, timeout: float = 10.0) -> None:
        """Fail every unfinished job and end the thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _next_job(self) -> Job | None:
        while True:
            with self._wake:
                while not self._stopping and not self._active and not self._waiting:
                    self._wake.wait()
                if self._stopping:
                    return None
                admitted = []
                while self._waiting and len(self._active) < self.max_active:
                    admitted.append(self._waiting.popleft())
                    self._active.append(admitted[-1])
            for job in admitted:  # every newcomer starts before any job steps (the module docstring says why)
                if not self._start(job):
                    self._active.remove(job)
            if self._active:
                return self._active.popleft()

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if self._step(job):
                with self._wake:
                    self._active.append(job)
        for job in [*self._active, *self._waiting]:
            job.push(WorkerStopped("the server shut down before this request finished"))
            self._close(job)

    def _start(self, job: Job) -> bool:
        """Create ``job``'s iterator; False when it failed or was cancelled while it waited."""
        if job.cancelled.is_set():
            job.push(_END)
            return False
        try:
            job.steps = job.make_steps()
            return True
        except Exception as e:  # handed to the request that owns the job, as in _step
            job.push(e)
        return False

    def _step(self, job: Job) -> bool:
        """Advance ``job`` by one item; False when it is finished (done, failed or cancelled)."""
        if job.cancelled.is_set():
            self._close(job)
            job.push(_END)
            return False
        try:
            job.push(next(job.steps))
            return True
        except StopIteration:
            job.push(_END)
        except Exception as e:  # handed to the request that owns the job, which turns it into an error response
            job.push(e)
        return False

    @staticmethod
    def _close(job: Job) -> None:
        if job.steps is not None and hasattr(job.steps, "close"):
            job.steps.close()
