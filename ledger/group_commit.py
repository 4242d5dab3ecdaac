"""Group commit: many concurrent callers, one transaction per batch.

Each caller submits its drafts and waits; a single writer thread takes whatever is
queued (up to ``max_batch`` entries), appends it in one durable transaction, and
only then answers every caller with its own indexes. A failed batch fails each of
its callers and writes nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from keys.errors import ExternalFailure
from ledger.entries import Entry
from ledger.store import AlsoInTransaction, Appended, OutcomeUnknown, StoreBusy


class Append(Protocol):
    def __call__(
        self, drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None
    ) -> Appended: ...


class CommitPending(OutcomeUnknown):
    """The caller stopped waiting while its entries were still queued or being written."""

    code = "commit-pending"


class CommitterClosed(ExternalFailure):
    """The group committer was shut down before the entries were written."""

    code = "committer-closed"


@dataclass(slots=True)
class _Job:
    drafts: list[Entry]
    future: Future[Appended]
    also: AlsoInTransaction | None


class GroupCommitter:
    """Serialise appends from many threads into batched transactions."""

    def __init__(self, append: Append, *, max_batch: int = 5000) -> None:
        self._append = append
        self._max_batch = max_batch
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="eseal-group-commit", daemon=True)
        self._thread.start()

    def submit(
        self, drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None
    ) -> Future[Appended]:
        """Queue ``drafts`` (kept together, in order) and the work ``also`` to commit with
        them; the future resolves after the commit."""
        future: Future[Appended] = Future()
        if self._closed:
            future.set_exception(CommitterClosed("the ledger writer is shut down"))
            return future
        self._queue.put(_Job(list(drafts), future, also))
        return future

    def append(
        self,
        drafts: Sequence[Entry],
        *,
        also: AlsoInTransaction | None = None,
        timeout: float | None = 60,
    ) -> Appended:
        """Submit and wait: returns once the drafts are durable. A wait past ``timeout``
        raises :class:`CommitPending`: the drafts stay queued and may yet be recorded."""
        future = self.submit(drafts, also=also)
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.done():  # the append itself failed with a TimeoutError
                raise
            raise CommitPending(
                f"the ledger writer did not record this within {timeout:g} s; it is still "
                "queued and may yet be recorded: look it up before doing it again"
            ) from None

    def close(self) -> None:
        """Write what is queued, then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._queue.get()
            if job is None:
                break
            jobs = [job]
            count = len(job.drafts)
            while count < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
                count += len(more.drafts)
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        drafts = [d for job in jobs for d in job.drafts]

        def also(conn: Any, first: int) -> None:
            offset = 0
            for job in jobs:
                if job.also is not None:
                    job.also(conn, first + offset)
                offset += len(job.drafts)

        try:
            appended = self._append(drafts, also=also)
        except BaseException as e:
            # Nothing was written: retry alone, so that one caller's failure (a lost race on
            # its row, say) is not everyone's. Not when the commit went unconfirmed (the batch
            # may be recorded whole: appending its jobs again would record them twice), nor
            # for a lock on the ledger's own tables held elsewhere (everyone's, and each retry
            # would wait for it again): each caller is told so.
            if len(jobs) > 1 and not isinstance(e, (OutcomeUnknown, StoreBusy)):
                for job in jobs:
                    self._commit([job])
                return
            for job in jobs:
                job.future.set_exception(e)
            return
        offset = 0
        for job in jobs:
            n, future = len(job.drafts), job.future
            future.set_result(
                Appended(
                    first_index=appended.first_index + offset,
                    entries=appended.entries[offset : offset + n],
                    leaf_hashes=appended.leaf_hashes[offset : offset + n],
                    size=appended.size,
                    root=appended.root,
                    checkpoint=appended.checkpoint,
                )
            )
            offset += n
