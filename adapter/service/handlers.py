"""What each endpoint does, without the HTTP framework: bytes and headers in, a status and a
JSON body out (or a ``ServiceError``). ``app.py`` only wires these to routes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from adapter import modes
from adapter import sources as claim_sources
from adapter.evidence.fields import BadResource, has_id, ref_of
from adapter.evidence.kinds import PATIENT_TYPES
from adapter.evidence.needs import record_searches
from adapter.fhir import FhirClient, FhirError, RetryPolicy
from adapter.fhir.auth import BearerTokenAuth, NoAuth
from adapter.modes import Judge
from adapter.output.detected_issue import InvalidDetectedIssue
from adapter.service import batch, cds_hooks, fhir_answer, metrics
from adapter.service.checking import CheckRun, ServerChecks, check_in_memory, run
from adapter.service.operation import Posted, read_json, read_posted
from adapter.service.outcome import ServiceError
from adapter.service.settings import ServeSettings
from adapter.service.subscriptions import PingRunner, patients_of, read_notification
from adapter.sources.posted import PostedClaimsSource
from adapter.sources.server import ClaimSelection, ServerSource
from adapter.sync_state import SyncStateError

Resource = dict[str, Any]
Answer = tuple[int, dict[str, Any]]

logger = logging.getLogger("adapter.service")
# A clinician is waiting on a CDS call: one quick retry, then answer without cards.
PROBE_SECONDS = 10.0
CDS_RETRY = RetryPolicy(max_attempts=2, max_total_seconds=5.0, backoff_base=0.2, jitter=0.1)


class Handlers:
    def __init__(self, settings: ServeSettings, judge: Judge) -> None:
        self.settings = settings
        self.judge = judge
        self.server = (ServerChecks(judge, settings.fhir, dry_run=settings.dry_run,
                                    max_entries=settings.max_entries)
                       if settings.fhir else None)
        self.pings = PingRunner(self._sync) if settings.state and self.server else None
        self._probe: tuple[float, dict[str, Any]] | None = None
        self._probe_lock = threading.Lock()

    def fhir_server_status(self) -> dict[str, Any] | None:
        """Whether the configured FHIR server answers ``GET [base]/metadata`` (any status
        below 500; one probe per PROBE_SECONDS, whoever asks), for ``/ready``."""
        if self.settings.fhir is None:
            return None
        with self._probe_lock:
            now = time.monotonic()
            if self._probe is not None and now - self._probe[0] < PROBE_SECONDS:
                return self._probe[1]
            fhir = self.settings.fhir
            try:
                response = requests.get(fhir.url.strip().rstrip("/") + "/metadata",
                                        timeout=(2.0, 3.0), verify=fhir.ca_bundle or True,
                                        headers={"Accept": "application/fhir+json"})
                status: dict[str, Any] = {"answers": response.status_code < 500,
                                          "status": response.status_code}
            except requests.RequestException as exc:
                status = {"answers": False, "error": type(exc).__name__}
            self._probe = (now, status)
            return status

    def close(self) -> None:
        if self.pings is not None:
            self.pings.stop()
        if self.server is not None:
            self.server.close()

    # POST /Claim/$b12-check, POST /ExplanationOfBenefit/$b12-check

    def check_operation(self, body: bytes, content_type: str | None, claim_type: str,
                        fhir: bool = False, respond_async: bool = False) -> Answer:
        """One claim (its JSON report entry) or a batch (the report); ``fhir``: as a
        Parameters (``Accept: application/fhir+json``); ``respond_async``: a job, whose
        batch may be as large as ``--max-async-claims``."""
        posted = read_posted(read_json(body, content_type), claim_type)
        if posted.batch:
            limit = (self.settings.max_async_claims if respond_async
                     else self.settings.max_batch_claims)
            found = self.check_batch(posted, claim_type, limit)
            return 200, batch.parameters(found) if fhir else found
        status, found = self._check_one(posted, claim_type)
        return status, fhir_answer.claim_parameters(found) if fhir else found

    def check_batch(self, posted: Posted, claim_type: str, limit: int) -> dict[str, Any]:
        count = batch.bound(posted, claim_type, limit)
        missing: list[str] = []
        if posted.references:
            server = self._on_server(f"checking {count} claims by reference")
            if claim_type == "Claim":
                ids = tuple(ref.partition("/")[2] for ref in posted.references)
                checked = _guarded(lambda: server.check_selection(
                    ClaimSelection(ids=ids), lock=list(posted.references)))
            else:
                found = server.read(list(posted.references))
                checked = _guarded(lambda: server.check_given(found))
        elif any(r.get("resourceType") == "Bundle" for r in posted.resources) \
                or self.server is None:
            checked = _guarded(lambda: check_in_memory(self.judge, posted.resources))
        else:
            checked = _guarded(lambda: self._on_server().check_given(posted.resources))
        if checked.read_failed:
            raise ServiceError(502, "the FHIR server could not be read", code="transient",
                               problems=checked.report.errors)
        metrics.observe_run(checked.report, checked.writes, "operation")
        answer = batch.answer(checked)
        if posted.references:
            seen = {o.claim for o in checked.outcomes.claims}
            missing = [ref for ref in posted.references if ref not in seen]
            # the server source names an id its search did not return; said here once, in
            # the operation's words
            named = [e for e in answer["errors"] if e["resource"] in missing]
            answer["errors"] = [e for e in answer["errors"] if e not in named] + [
                {"resource": ref, "message": "not on the FHIR server"} for ref in missing]
            answer["summary"]["errors"] += len(missing) - len(named)
        logger.info("batch checked", extra={
            "claims": count, **answer["summary"], "writes": answer["writes"] and {
                k: v for k, v in answer["writes"].items() if k != "planned"}})
        return answer

    def _check_one(self, posted: Posted, claim_type: str) -> Answer:
        if posted.reference is not None:
            checked = self._check_reference(posted.reference, claim_type)
        elif posted.in_bundle or self.server is None:
            checked = _guarded(lambda: check_in_memory(self.judge, posted.resources))
        else:
            checked = _guarded(lambda: self._on_server().check_given(posted.resources))
        answer = _one_claim(checked, claim_type, posted.reference)
        metrics.observe_run(checked.report, checked.writes, "operation")
        claim, skipped = answer["claim"], answer["skipped"]
        logger.info("checked", extra={
            "claim": (claim or skipped)["claim"], "verdict": claim and claim["verdict"],
            "findings": [f["code"] for f in claim["findings"]] if claim else [],
            "skipped": skipped and skipped["reason"], "writes": answer["writes"] and {
                k: v for k, v in answer["writes"].items() if k != "planned"}})
        return 200, answer

    def _check_reference(self, ref: str, claim_type: str) -> CheckRun:
        server = self._on_server(f"checking {ref} by reference")
        if claim_type == "Claim":
            selection = ClaimSelection(ids=(ref.partition("/")[2],))
            return _guarded(lambda: server.check_selection(selection, lock=[ref]))
        found = server.read([ref])
        if not found:
            raise ServiceError(404, f"{ref} is not on the FHIR server", code="not-found")
        return _guarded(lambda: server.check_given(found))

    def _on_server(self, what: str = "this request") -> ServerChecks:
        if self.server is None:
            raise ServiceError(400, f"{what} needs a FHIR server: start the service with "
                                    "`serve --server URL`", code="not-supported")
        return self.server

    # Subscription notifications

    def notify(self, body: bytes, content_type: str | None, headers: Mapping[str, str],
               path_ref: str | None = None) -> Answer:
        server = self.server
        if server is None:
            raise ServiceError(404, "this service has no FHIR server to check notified claims "
                                    "against: start it with `serve --server URL`",
                               code="not-supported")
        data = read_json(body, content_type) if body.strip() else None
        notification = read_notification(data, headers)
        if path_ref is not None:
            got = [f"{r['resourceType']}/{r['id']}" for r in notification.resources]
            if got != [path_ref]:
                raise ServiceError(400, f"PUT {path_ref} must carry that resource, got "
                                        f"{', '.join(got) or 'none'}")
        log = {"notification": notification.kind, "subscription": notification.subscription}
        if notification.kind in ("handshake", "heartbeat", "deleted"):
            logger.info("notification", extra=log)
            return 200, {"notification": notification.kind}
        if notification.kind == "ping":
            if self.pings is None:
                raise ServiceError(422, "an empty notification says only that something changed:"
                                        " start the service with `--state FILE` to check the "
                                        "claims changed since the last run, or give the "
                                        "Subscription a payload (full-resource or id-only)",
                                   code="not-supported")
            self.pings.ping()
            logger.info("notification", extra=log)
            return 202, {"notification": "ping", "sync": "started"}
        resources = list(notification.resources)
        pending = [r for r in notification.references if not r.startswith("Claim/")]
        if pending:
            resources += server.read(pending)
        claim_ids = tuple(r.partition("/")[2] for r in notification.references
                          if r.startswith("Claim/"))
        claims = [r for r in resources if r.get("resourceType") in claim_sources.CLAIM_TYPES]
        patients = patients_of(resources)  # the record kinds keyed to a patient, and Patients
        runs: list[CheckRun] = []
        if claim_ids:
            refs = [f"Claim/{i}" for i in claim_ids]
            runs.append(_guarded(lambda: server.check_selection(ClaimSelection(ids=claim_ids),
                                                                lock=refs)))
        if claims:
            runs.append(_guarded(lambda: server.check_given(claims)))
        if patients:
            runs.append(_guarded(lambda: server.check_selection(
                ClaimSelection(patient=",".join(patients)))))
        for done in runs:
            metrics.observe_run(done.report, done.writes, "notification")
        answer = _merge(runs)
        answer["notification"] = "event"
        answer["ignored"] = sorted(
            f"{r.get('resourceType')}/{r.get('id')}" for r in resources
            if r.get("resourceType") not in claim_sources.CLAIM_TYPES | PATIENT_TYPES)
        logger.info("notification", extra={**log, "claims": [c["claim"] for c in
                                                              answer["checked"]]})
        if any(r.read_failed or r.write_failed for r in runs):
            raise ServiceError(502, "the FHIR server failed part of the work; the notification "
                                    "can be delivered again (writes are idempotent)",
                               code="transient", problems=[
                                   p for r in runs for p in r.report.errors])
        return 200, answer

    def _sync(self) -> bool:
        """One incremental run for a ping (the same run as ``b12-adapter sync``)."""
        assert self.server is not None and self.settings.state is not None
        try:
            with self.server.client() as client:
                done, outcome = modes.sync(
                    self.judge, client, Path(self.settings.state), dry_run=self.server.dry_run,
                    max_entries=self.server.max_entries,
                    overlap=timedelta(seconds=self.settings.overlap_seconds), max_claims=None)
        except SyncStateError as exc:  # a cron sync holds the lock: try again shortly
            logger.warning("ping: sync not run", extra={"reason": str(exc)})
            metrics.observe_sync("not-run")
            return False
        except FhirError as exc:
            logger.warning("ping: sync failed", extra={"reason": str(exc)})
            metrics.observe_sync("failed")
            return False
        metrics.observe_run(done.report, done.writes, "sync")
        metrics.observe_sync("failed" if done.failed else "ok", outcome.after.watermark)
        w = done.writes
        # "created" is a LogRecord attribute: as an extra key it raised KeyError (issue 25)
        logger.info("ping: sync run", extra={
            "claims": len(done.report.claims) + len(done.report.skipped),
            "writes": {"created": w.created, "updated": w.updated, "cancelled": w.cancelled,
                       "failed": w.failed},
            "errors": len(done.report.errors), "watermark": outcome.after.watermark})
        return not done.failed

    # CDS Hooks

    def cds(self, body: bytes, content_type: str | None, service_id: str) -> Answer:
        request = cds_hooks.read_request(read_json(body, content_type), service_id,
                                         self.judge.mappings)
        note = (f"not checked: the medication of {', '.join(request.unresolved)} is a "
                "reference the service could not read (contain the Medication in the order "
                "or put it in draftOrders)") if request.unresolved else None
        if not request.orders:
            return 200, cds_hooks.answer([], note)
        mappings = self.judge.mappings
        chart, missing = cds_hooks.prefetched(request)
        coverages = [ref for r in chart if r.get("resourceType") == "Coverage"
                     and has_id(ref := ref_of(r))]
        try:
            claims = {f"Claim/{c['id']}": (c, order) for order in request.orders
                      if (c := cds_hooks.synthetic_claim(order, request.patient, mappings,
                                                         coverages))}
        except BadResource as exc:  # as a claim that cannot be read: named, nothing checked
            raise ServiceError(422, f"draft order {exc.ref} cannot be checked: {exc.problem}"
                               ) from None
        synthetic = [claim for claim, _ in claims.values()]
        if not missing:
            checked = _guarded(lambda: check_in_memory(self.judge, [*chart, *synthetic]))
        elif self._cds_server_allowed(request.fhir_server):
            # CDS Hooks 2.0: 412 when the data can be neither prefetched nor fetched
            try:
                checked = self._cds_from_server(request, synthetic)
            except FhirError as exc:
                raise ServiceError(412, f"the chart could not be read from fhirServer ({exc}); "
                                        "nothing was checked", code="transient") from exc
            if checked.read_failed:
                raise ServiceError(412, "the chart could not be read from fhirServer; nothing "
                                        "was checked", code="transient",
                                   problems=checked.report.errors)
        else:
            raise ServiceError(412, (
                f"prefetch {', '.join(missing)} missing and fhirServer "
                f"{'not given' if not request.fhir_server else 'not allowed'}: nothing was "
                "checked (send the prefetch, or allow the server with --cds-fhir-server)"),
                code="incomplete")
        found = []
        for result in checked.report.claims:
            _, order = claims[result.claim]
            found += cds_hooks.cards(request, order, result.findings)
            if not missing:  # the payer's frequency limit, counted in the prefetched chart
                frequency = cds_hooks.frequency_card(request, order, chart, mappings)
                if frequency is not None:
                    found.append(frequency)
        metrics.observe_run(checked.report, None, "cds")
        metrics.observe_cards(found)
        logger.info("cds", extra={"hook": request.hook, "orders": len(request.orders),
                                  "cards": len(found)})
        return 200, cds_hooks.answer(found, note)

    def cds_feedback(self, body: bytes, content_type: str | None, service_id: str) -> Answer:
        """``POST /cds-services/{id}/feedback``: logged (card uuids and outcomes, no PHI)."""
        items = cds_hooks.read_feedback(read_json(body, content_type))
        for item in items:
            logger.info("cds feedback", extra={"service": service_id, **item})
        return 200, {}

    def _cds_server_allowed(self, url: str | None) -> bool:
        if not url:
            return False
        allowed = {u.rstrip("/") for u in self.settings.cds_fhir_servers}
        return url.rstrip("/") in allowed

    def _cds_from_server(self, request: cds_hooks.HookRequest,
                         claims: list[Resource]) -> CheckRun:
        assert request.fhir_server is not None
        auth = BearerTokenAuth(request.access_token) if request.access_token else NoAuth()
        with FhirClient(request.fhir_server, auth=auth, timeout=(3.0, 10.0), retry=CDS_RETRY,
                        writable_types=frozenset()) as client:
            source = ServerSource(client, ClaimSelection(),
                                  record_searches(self.judge.mappings))
            return run(self.judge, PostedClaimsSource(claims, source))


def _guarded(work: Any) -> CheckRun:
    """A DetectedIssue the adapter cannot build for a claim is that claim's problem (422)."""
    try:
        return work()
    except InvalidDetectedIssue as exc:
        raise ServiceError(422, f"the findings could not be written as a DetectedIssue: {exc}",
                           code="processing") from exc


def _one_claim(checked: CheckRun, claim_type: str, reference: str | None) -> dict[str, Any]:
    if checked.read_failed:
        raise ServiceError(502, "the FHIR server could not be read", code="transient",
                           problems=checked.report.errors)
    outcomes = checked.outcomes.claims
    if not outcomes:
        if reference is not None:
            raise ServiceError(404, f"{reference} is not on the FHIR server", code="not-found")
        raise ServiceError(422, f"the request holds no {claim_type}", code="required",
                           problems=checked.report.errors)
    if len(outcomes) > 1:
        raise ServiceError(422, f"one claim per request: this one holds {len(outcomes)} "
                                f"({', '.join(o.claim for o in outcomes[:5])})",
                           code="too-costly")
    outcome = outcomes[0]
    if not outcome.claim.startswith(f"{claim_type}/"):
        raise ServiceError(400, f"this operation checks a {claim_type}; the request holds "
                                f"{outcome.claim}")
    if outcome.result is None and outcome.skipped is None:
        raise ServiceError(422, f"{outcome.claim} could not be checked", code="processing",
                           problems=outcome.problems or tuple(checked.report.errors))
    return checked.claim_answer()


def _merge(runs: list[CheckRun]) -> dict[str, Any]:
    merged: dict[str, Any] = {"checked": [], "skipped": [], "errors": [], "writes": None}
    for checked in runs:
        summary = checked.summary()
        for key in ("checked", "skipped", "errors"):
            merged[key] += summary[key]
        if summary["writes"]:
            if merged["writes"] is None:
                merged["writes"] = summary["writes"]
            else:
                for key in ("created", "updated", "cancelled", "unchanged", "failed"):
                    merged["writes"][key] += summary["writes"][key]
                merged["writes"]["planned"] += summary["writes"]["planned"]
    return merged
