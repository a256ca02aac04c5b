"""Every core on a big file export: the records read, and the claims judged, by worker processes.

Forked, so a worker starts with what the parent holds (mappings, policy, the opened source
and, for the claims, the finished chart) and nothing large is sent to it. Work is handed out
as it is asked for (a shared counter): the records in pieces of a file, the claims a page at
a time. What comes back through each worker's pipe is small and pickled: the facts a piece of
the records makes (``Chart.read``), the outcome of a page. The parent puts them back in
source order, so the chart, the report and its order are those of a run on one core. The
resource parsing, the fact reading and the rules run in the workers; the parent indexes facts
and feeds the sinks. Where fork is missing (Windows), or the export is small, one core runs.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from adapter.evidence.chart import Chart
from adapter.outcomes import PageOutcome, Problem
from adapter.read_plan import Page, take
from adapter.sources.base import Reads
from adapter.sources.files import FileSource

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

PART_BYTES = 8 << 20  # a piece of a typed NDJSON file handed to a worker
AUTO_MIN_BYTES = 64 << 20  # no pre-scan, less record data than this: forking costs more
AUTO_MIN_B12_CLAIMS = 10_000  # fewer claims that may bill B12: a second process does not pay
AUTO_MAX_WORKERS = 4
RECORD_BYTES_PER_B12_CLAIM = 64 << 10  # fewer B12 claims than this: workers read records
_END = b""


class WorkerError(RuntimeError):
    """A worker process failed or vanished: the run cannot be completed as one core would."""


@dataclass(frozen=True)
class _Failure:
    trace: str


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_workers() -> int:
    """Workers for a big export: every core but the parent's, at most four (one where fork is
    missing)."""
    return min(cores() - 1, AUTO_MAX_WORKERS) if available() else 1


def choose(b12_claims: int | None, scanned_bytes: int) -> tuple[int, str]:
    """How many processes a file run pays for, and why (``check -v`` says it). What a second
    process can share is the work of the B12 claims: their patients' records parsed and read,
    their rules. The rest, the scan of every file for the lines that matter, is I/O and a
    search at memory speed that each process would repeat. So the claims pre-scan's count of
    claims that may bill B12 decides: below ``AUTO_MIN_B12_CLAIMS`` the work to share is too
    small. Without a pre-scan (claims in Bundles) the size of the records decides. Workers
    run only where the parent keeps a core of its own (it indexes the facts workers send and
    writes the report): on two cores a second process gained 8-21% of the wall time for as
    much more CPU, even with every claim a B12 claim (bench/RESULTS.md)."""
    if not available():
        return 1, "one process: this platform cannot fork worker processes"
    if (count := auto_workers()) < 2:
        return 1, (f"one process: {cores()} core(s); worker processes pay only where the "
                   "parent keeps a core of its own (--workers N to ask for them)")
    if b12_claims is None:
        if scanned_bytes < AUTO_MIN_BYTES:
            return 1, (f"one process: {scanned_bytes / 2**20:.0f} MB of records to scan, less "
                       f"than {AUTO_MIN_BYTES >> 20} MB (claims outside claim files: no pre-scan)")
        return count, (f"{count} processes: {scanned_bytes / 2**20:.0f} MB of records to scan "
                       "and claims outside claim files (no pre-scan to count them)")
    if b12_claims < AUTO_MIN_B12_CLAIMS:
        return 1, (f"one process: {b12_claims:,} claims may bill B12, fewer than "
                   f"{AUTO_MIN_B12_CLAIMS:,}; the rest of the run is a scan that a second "
                   "process would repeat, not share")
    return count, (f"{count} processes: {b12_claims:,} claims may bill B12, their records "
                   "and rules shared out")


def records_pay(workers: int, scanned_bytes: int, b12_claims: int | None) -> bool:
    """Whether reading the records in workers pays. The parent unpickles and indexes the
    facts they send, about one chart per B12 claim: that pays when the parent has a core of
    its own, or when B12 claims are rare (under one per 64 KB of records, as in most real
    exports: the work is then the scan, and little comes back). ``b12_claims``: the claims
    pre-scan's count, None when there was none."""
    if cores() > workers:
        return True
    return b12_claims is not None and b12_claims * RECORD_BYTES_PER_B12_CLAIM < scanned_bytes


# --- The records -----------------------------------------------------------------------------


def read_chart(source: FileSource, reads: Reads, chart: Chart, workers: int
               ) -> list[Problem]:
    """Fill ``chart`` from ``source`` as ``build_chart`` would, the pieces of big typed files
    read by ``workers`` processes; the rest (Bundles, files of mixed types, gzipped files,
    which note claims and aliases on the source) read here meanwhile, in order."""
    parts = source.parts(reads, size=PART_BYTES)
    alone = [part for part in parts if part.alone]
    problems: list[Problem] = []

    def read_alone(next_index: Callable[[], int | None]) -> Iterator[tuple[int, Any]]:
        while (n := next_index()) is not None and n < len(alone):
            yield n, [chart.read(item) if type(item) is dict else item
                      for item in source.part_records(alone[n], reads)]

    with _workers(min(workers, len(alone)), read_alone) as results:
        n = 0
        for part in parts:
            if part.alone:
                for item in results.get(n):
                    if type(item) is list:
                        chart.put(item)
                    else:
                        take(chart, problems, item)
                n += 1
            else:
                for item in source.part_records(part, reads):
                    take(chart, problems, item)
    return problems


# --- The claims ------------------------------------------------------------------------------


def judged_pages(pages: Callable[[], Iterator[Page]], judge: Callable[[Page], PageOutcome],
                 workers: int) -> Iterator[PageOutcome]:
    """``judge`` of each page of ``pages()``, in order, the pages judged by ``workers``
    processes. Each worker reads every page (cheap) and judges those it is first to ask
    for."""

    def judge_pages(next_index: Callable[[], int | None]) -> Iterator[tuple[int, PageOutcome]]:
        wanted = next_index()
        for index, page in enumerate(pages()):
            if wanted is None:
                return
            if index == wanted:
                yield index, judge(page)
                wanted = next_index()

    with _workers(workers, judge_pages) as results:
        yield from results.in_order()


# --- Worker processes ------------------------------------------------------------------------


class _Results:
    """What the workers send, by index: ``get(n)`` waits for item n; ``in_order`` yields
    items 0, 1, ... until every worker is done."""

    def __init__(self, connections: list[Connection]) -> None:
        self.open = list(connections)
        self.waiting: dict[int, Any] = {}

    def get(self, n: int) -> Any:
        while n not in self.waiting:
            if not self.open:
                raise WorkerError(f"the workers ended before sending piece {n}")
            self._receive()
        return self.waiting.pop(n)

    def in_order(self) -> Iterator[Any]:
        n = 0
        while True:
            while n not in self.waiting and self.open:
                self._receive()
            if n not in self.waiting:
                return
            yield self.waiting.pop(n)
            n += 1

    def _receive(self) -> None:
        for connection in wait(self.open):
            assert isinstance(connection, Connection)
            try:
                data = connection.recv_bytes()
            except EOFError:
                raise WorkerError("a worker process ended without finishing (killed, or out "
                                  "of memory?)") from None
            if data == _END:
                self.open.remove(connection)
                continue
            value = pickle.loads(data)
            if isinstance(value, _Failure):
                raise WorkerError(f"a worker process failed:\n{value.trace}")
            index, payload = value
            self.waiting[index] = payload


@contextmanager
def _workers(count: int, work: Callable[[Callable[[], int | None]], Iterator[tuple[int, Any]]]
             ) -> Iterator[_Results]:
    """``count`` forked processes each running ``work(next_index)``, where ``next_index()``
    hands out the next index of the work (shared), and sending what it yields."""
    context = multiprocessing.get_context("fork")
    counter: Synchronized[int] = context.Value("q", 0)

    def next_index() -> int:
        with counter.get_lock():
            n = counter.value
            counter.value = n + 1
            return n

    sys.stdout.flush()  # a forked child must not write the parent's buffered output again
    sys.stderr.flush()
    processes, connections = [], []
    try:
        for _ in range(max(1, count)):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_serve, args=(work, next_index, send), daemon=True)
            process.start()
            send.close()
            processes.append(process)
            connections.append(receive)
        yield _Results(connections)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for connection in connections:
            connection.close()


def _serve(work: Callable[[Callable[[], int | None]], Iterator[tuple[int, Any]]],
           next_index: Callable[[], int | None], send: Connection) -> None:
    gc.freeze()  # leave the parent's objects alone: their pages stay shared, not copied
    try:
        for item in work(next_index):
            send.send_bytes(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
        send.send_bytes(_END)
    except BaseException:  # whatever it was, the parent must hear of it
        send.send_bytes(pickle.dumps(_Failure(traceback.format_exc())))
    finally:
        send.close()
