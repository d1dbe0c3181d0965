"""Bounded worker threads for blocking calls, one pool per guard.

A `Workers` is a `concurrent.futures.Executor` of at most `max_workers` daemon
threads, started on demand and retired after `idle_seconds` without work. A call
that hangs keeps its thread until it returns (a thread cannot be killed), so hung
work can fill one guard's pool but never another's, and daemon threads never hold
up interpreter exit (a `ThreadPoolExecutor` joins its threads at exit). Inside
`using(workers)`, `run_blocking` sends calls there instead of to asyncio's default
executor, which every library in the process shares.

Example:
    >>> workers = Workers(max_workers=4)
    >>> workers.submit(sum, [1, 2]).result()
    3
    >>> workers.shutdown(wait=False)
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

_T = TypeVar("_T")
_P = ParamSpec("_P")

DEFAULT_MAX_WORKERS = 16
"""Threads a guard may run its blocking signals on at once."""
IDLE_SECONDS = 5.0
"""How long an idle worker thread waits for work before it exits."""

_CURRENT: contextvars.ContextVar[Workers | None] = contextvars.ContextVar(
    "confguard_workers", default=None
)


@dataclass(frozen=True)
class _Job:
    """One submitted call, run in the submitter's context (as `to_thread` does)."""

    future: Future[Any]
    call: Callable[[], Any]
    context: contextvars.Context

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return  # its caller gave up before a thread was free
        try:
            result = self.context.run(self.call)
        except BaseException as exc:  # handed to the caller, as an Executor does
            self.future.set_exception(exc)
        else:
            self.future.set_result(result)


class Workers(Executor):
    """An executor of at most `max_workers` daemon threads (see the module doc)."""

    def __init__(
        self,
        max_workers: int = DEFAULT_MAX_WORKERS,
        *,
        name: str = "confguard-worker",
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self._name = name
        self._idle_seconds = idle_seconds
        self._lock = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._threads = 0
        self._idle = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether `shutdown` was called (no new work is taken)."""
        return self._closed

    @property
    def busy(self) -> int:
        """Threads running a call now, hung ones included."""
        with self._lock:
            return self._threads - self._idle

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> Future[_T]:
        """Run `fn(*args, **kwargs)` on a free thread, or as soon as one frees."""
        future: Future[_T] = Future()
        job = _Job(future, lambda: fn(*args, **kwargs), contextvars.copy_context())
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run new work: these workers are shut down")
            while self._jobs and self._jobs[0].future.cancelled():
                self._jobs.popleft()  # callers that timed out waiting; never run
            self._jobs.append(job)
            if self._idle >= len(self._jobs):
                self._lock.notify()
            elif self._threads < self.max_workers:
                self._start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Take no new work; idle threads exit, busy ones when their call returns.

        `wait` is accepted for the Executor interface but not honoured: a hung call
        would make it wait forever, and the threads are daemons anyway.
        """
        with self._lock:
            self._closed = True
            if cancel_futures:
                for job in self._jobs:
                    job.future.cancel()
                self._jobs.clear()
            self._lock.notify_all()

    def _start(self) -> None:
        self._threads += 1
        name = f"{self._name}-{self._threads}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while (job := self._next()) is not None:
            job.run()
            del job  # drop the call's arguments while idle

    def _next(self) -> _Job | None:
        with self._lock:
            self._idle += 1
            try:
                while not self._jobs:
                    timed_out = self._closed or not self._lock.wait(self._idle_seconds)
                    if timed_out and not self._jobs:
                        self._threads -= 1
                        return None
                return self._jobs.popleft()
            finally:
                self._idle -= 1


@contextmanager
def using(workers: Workers | None) -> Iterator[None]:
    """Within this block, `run_blocking` uses `workers` (None: leave it as it is)."""
    if workers is None:
        yield
        return
    token = _CURRENT.set(workers)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def run_blocking(fn: Callable[..., _T], /, *args: Any) -> _T:
    """`fn(*args)` off the event loop: on the current `using` workers, else a thread.

    Cancelling the await (e.g. `asyncio.wait_for` timing out) withdraws a call that
    has not started yet, so it never runs late.
    """
    workers = _CURRENT.get()
    if workers is None:
        return await asyncio.to_thread(fn, *args)
    return await asyncio.wrap_future(workers.submit(fn, *args))


__all__ = [
    "DEFAULT_MAX_WORKERS",
    "IDLE_SECONDS",
    "Workers",
    "run_blocking",
    "using",
]
