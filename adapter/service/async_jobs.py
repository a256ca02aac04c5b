"""The FHIR asynchronous request pattern for ``$b12-check`` (large batches).

A request with ``Prefer: respond-async`` is answered at once: 202 Accepted with
``Content-Location`` naming ``/async/{id}``. Polling that URL answers 202 (with
``Retry-After`` and ``X-Progress``) while the work runs, then the answer the request would
have had: 200 with the JSON answer, or for a FHIR client (``Accept: application/fhir+json``)
a ``batch-response`` Bundle whose one entry holds the Parameters and the status; a request
that failed answers its 4xx/5xx OperationOutcome. ``DELETE /async/{id}`` cancels the job (one
not started never runs; one running has its answer discarded) and forgets it: 202, then 404.

State lives in files in one directory shared by the workers of one ``serve`` (any worker
answers a poll), made at start and removed at exit: **a job survives nothing, not even a
restart** of the service; a client whose poll answers 404 after a restart sends the request
again (checks are idempotent). Answers are kept ``RETENTION_SECONDS`` after they are ready.
Job ids are random (uuid4): the URL is the capability, behind the same caller auth as the rest.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from adapter.service.outcome import ServiceError

DIRECTORY_VARIABLE = "B12_ASYNC_DIR"
RETENTION_SECONDS = 3600.0
_ID = re.compile(r"[0-9a-f]{32}")
Answer = tuple[int, dict[str, Any]]
logger = logging.getLogger("adapter.service")


class AsyncJobs:
    """Jobs run ``workers`` at a time in this process, at most ``queue`` waiting."""

    def __init__(self, directory: Path | None = None, workers: int = 1, queue: int = 8) -> None:
        if directory is None:
            shared = os.environ.get(DIRECTORY_VARIABLE)
            directory = Path(shared) if shared else Path(tempfile.mkdtemp(prefix="b12-async-"))
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="b12-async")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, work: Callable[[], Answer], fhir: bool) -> str:
        """Start ``work``; the job's id. 429 when ``queue`` jobs are waiting already."""
        self._purge()
        with self._lock:
            waiting = sum(1 for f in self._futures.values() if not f.done())
            if waiting >= self.queue:
                raise ServiceError(429, f"{waiting} asynchronous jobs are waiting; try again "
                                        "later", code="throttled")
            job = uuid.uuid4().hex
            self._write(job, "job", {"state": "queued", "fhir": fhir, "created": time.time()})
            self._futures[job] = self._pool.submit(self._run, job, work, fhir)
        logger.info("async job queued", extra={"job": job})
        return job

    def poll(self, job: str) -> tuple[str, Answer | None, bool]:
        """``(state, answer, fhir)``: state queued, running or done (answer set)."""
        meta = self._read(job, "job")
        if meta is None or self._path(job, "cancelled").exists():
            raise ServiceError(404, "no such asynchronous job (finished jobs are kept an hour; "
                                    "none survives a restart of the service)", code="not-found")
        done = self._read(job, "answer")
        if done is not None:
            return "done", (int(done["status"]), done["body"]), bool(meta.get("fhir"))
        return str(meta.get("state", "queued")), None, bool(meta.get("fhir"))

    def cancel(self, job: str) -> None:
        if self._read(job, "job") is None or self._path(job, "cancelled").exists():
            raise ServiceError(404, "no such asynchronous job", code="not-found")
        self._path(job, "cancelled").touch()
        with self._lock:
            future = self._futures.pop(job, None)
        if future is not None:
            future.cancel()
        self._forget(job, keep_marker=True)
        logger.info("async job cancelled", extra={"job": job})

    def _run(self, job: str, work: Callable[[], Answer], fhir: bool) -> None:
        if self._path(job, "cancelled").exists():
            return
        self._write(job, "job", {"state": "running", "fhir": fhir, "created": time.time()})
        try:
            status, body = work()
        except ServiceError as exc:
            status, body = exc.status, exc.outcome()
        except Exception:  # the job's failure is its answer, as a request's would be
            logger.exception("async job failed", extra={"job": job})
            from adapter.service.outcome import operation_outcome

            status, body = 500, operation_outcome("internal error; see the service log",
                                                  "exception")
        if self._path(job, "cancelled").exists():
            return
        self._write(job, "answer", {"status": status, "body": body, "ready": time.time()})
        logger.info("async job done", extra={"job": job, "status": status})

    def _purge(self) -> None:
        now = time.time()
        for path in self.directory.glob("*.answer"):
            try:
                if now - path.stat().st_mtime > RETENTION_SECONDS:
                    self._forget(path.stem)
            except OSError:
                continue

    def _forget(self, job: str, keep_marker: bool = False) -> None:
        for kind in ("answer",) if keep_marker else ("job", "answer", "cancelled"):
            self._path(job, kind).unlink(missing_ok=True)
        with self._lock:
            self._futures.pop(job, None)

    def _path(self, job: str, kind: str) -> Path:
        if not _ID.fullmatch(job):
            raise ServiceError(404, "no such asynchronous job", code="not-found")
        return self.directory / f"{job}.{kind}"

    def _write(self, job: str, kind: str, value: dict[str, Any]) -> None:
        target = self._path(job, kind)
        temporary = target.with_suffix(f".{kind}.tmp")
        temporary.write_text(json.dumps(value), encoding="utf-8")
        temporary.replace(target)  # atomic: a poll never reads half an answer

    def _read(self, job: str, kind: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(job, kind).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None


def wants_async(prefer: str | None) -> bool:
    return any(p.strip().lower() == "respond-async" for p in (prefer or "").split(","))


def batch_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A FHIR client's completed job: a batch-response Bundle with the one answer."""
    phrase = {200: "200 OK"}.get(status, str(status))
    entry: dict[str, Any] = {"response": {"status": phrase}}
    if status < 400:
        entry["resource"] = body
    else:
        entry["response"]["outcome"] = body
    return {"resourceType": "Bundle", "type": "batch-response", "entry": [entry]}
