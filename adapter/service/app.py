"""The FastAPI application: routes, their OpenAPI description, start-up and shutdown.

Start-up loads the mappings, the thresholds (``--config``) and the ICD-10-CM tabular (about
1 s), then checks one built-in claim so every stage is warm; uvicorn listens only after
that, and ``/ready`` says what was loaded. Shutdown (SIGTERM/SIGINT) is uvicorn's: it stops
accepting connections, lets requests in flight finish (up to ``--graceful-timeout``), then
the lifespan ends the ping runner after its current run and closes the FHIR clients.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware

from adapter import __version__
from adapter.modes import Judge
from adapter.service import async_jobs, cds_hooks, fhir_answer, metrics, openapi
from adapter.service.cds_auth import CdsTokenVerifier
from adapter.service.checking import check_in_memory
from adapter.service.failsafe import AnsweredErrors
from adapter.service.guards import (
    BodyLimit,
    BodyTimeout,
    BodyTooLarge,
    CallerAuth,
    RequestLog,
    Throttle,
)
from adapter.service.handlers import Answer, Handlers
from adapter.service.outcome import FHIR_JSON, ServiceError, operation_outcome
from adapter.service.settings import ServeSettings
from adapter.terminology import icd10cm, releases

logger = logging.getLogger("adapter.service")


def load_judge(settings: ServeSettings) -> Judge:
    return Judge.load(settings.config_path)


def warm_up(judge: Judge) -> dict[str, Any]:
    """Parse the ICD-10-CM tabular and run one claim through every stage, once."""
    started = time.perf_counter()
    icd10cm.is_billable("D51.0")
    icd10cm.is_manifestation_of("G63", judge.policy.codes.b12_diagnoses)
    checked = check_in_memory(judge, [_WARM_UP_BUNDLE])
    if not checked.report.claims:
        raise RuntimeError(f"warm-up claim was not checked: {checked.report.to_dict()}")
    return {"icd10cm": [release.id for release in releases.installed()],  # what judges
            "warm_up_ms": round((time.perf_counter() - started) * 1000, 1)}


def create_app(settings: ServeSettings | None = None) -> Any:
    """The ASGI application: FastAPI wrapped in (outermost first) the request log and
    metrics, CORS when origins are configured, the concurrency limit, caller auth (tokens,
    CDS clients' JWTs, client certificates) and the body's size and read-time limits."""
    settings = settings or ServeSettings.from_environment()
    app = fastapi_app(settings)
    wrapped: Any = BodyLimit(AnsweredErrors(app), settings.max_body_bytes, settings.body_timeout)
    issuers = settings.cds_issuer_map()
    wrapped = CallerAuth(wrapped, settings.api_tokens(), settings.client_cert_header,
                         settings.allowed_subjects,
                         CdsTokenVerifier(issuers) if issuers else None, settings.public_url)
    wrapped = Throttle(wrapped, settings.max_concurrent)
    if settings.cors_origins:
        wrapped = CORSMiddleware(
            wrapped, allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Prefer",
                           "X-Request-ID"],
            expose_headers=["Content-Location", "Retry-After", "X-Request-ID", "Location"],
            max_age=600)
    return RequestLog(wrapped, settings.client_cert_header, app.routes)


def fastapi_app(settings: ServeSettings) -> FastAPI:
    """The routes (``app.openapi()`` is the document served at /openapi.json)."""
    state: dict[str, Any] = {"ready": False}
    started_at = datetime.now(UTC)
    writes_back = settings.fhir is not None and not settings.dry_run

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started = time.perf_counter()
        judge = load_judge(settings)
        detail = warm_up(judge)
        state["handlers"] = Handlers(settings, judge)
        state["jobs"] = async_jobs.AsyncJobs()
        state["ready"] = True
        state["detail"] = {**detail, "mappings": "loaded",
                           "startup_ms": round((time.perf_counter() - started) * 1000, 1),
                           "fhir_server": settings.fhir.url if settings.fhir else None,
                           "dry_run": settings.dry_run}
        logger.info("ready", extra=state["detail"])
        try:
            yield
        finally:
            state["ready"] = False
            state["jobs"].close()
            await to_thread.run_sync(state["handlers"].close)
            logger.info("stopped")

    app = FastAPI(title="b12-fhir-adapter service", version=__version__, lifespan=lifespan,
                  description=openapi.DESCRIPTION, docs_url=None, redoc_url=None)

    def handlers() -> Handlers:
        return state["handlers"]

    async def answer(work: Callable[[], Answer]) -> JSONResponse:
        status, body = await to_thread.run_sync(work)
        return JSONResponse(body, status_code=status)

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers",
             responses=openapi.HEALTH)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"],
             summary="Readiness: mappings and ICD-10-CM loaded, one claim checked",
             responses=openapi.READY)
    async def ready() -> JSONResponse:
        if not state["ready"]:
            return JSONResponse({"status": "starting"}, status_code=503)
        server = await to_thread.run_sync(handlers().fhir_server_status)
        extra = {} if server is None else {"fhir_server_answers": server["answers"],
                                           "fhir_server_probe": server}
        return JSONResponse({"status": "ready", **state["detail"], **extra})

    @app.get("/metadata", tags=["fhir"], summary="CapabilityStatement (FHIR R4)",
             responses=openapi.METADATA)
    async def metadata(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(fhir_answer.capability_statement(
            base, writes_back=writes_back, started=started_at), media_type=FHIR_JSON)

    @app.get(f"/OperationDefinition/{fhir_answer.OPERATION}", tags=["fhir"],
             summary="The $b12-check OperationDefinition", responses=openapi.DEFINITION)
    async def operation_definition() -> JSONResponse:
        return JSONResponse(fhir_answer.operation_definition(writes_back=writes_back),
                            media_type=FHIR_JSON)

    def jobs() -> async_jobs.AsyncJobs:
        return state["jobs"]

    for claim_type in ("Claim", "ExplanationOfBenefit"):
        _operation(app, claim_type, handlers, answer, jobs, settings.public_url)

    @app.get("/async/{job_id}", tags=["operations"], responses=openapi.ASYNC_POLL,
             dependencies=openapi.AUTH,
             summary="Poll an asynchronous $b12-check (Prefer: respond-async)")
    async def poll(job_id: str) -> JSONResponse:
        job_state, done, fhir = await to_thread.run_sync(jobs().poll, job_id)
        if done is None:
            return JSONResponse(operation_outcome(f"the job is {job_state}", "informational",
                                                  severity="information"),
                                status_code=202, media_type=FHIR_JSON,
                                headers={"retry-after": "1", "x-progress": job_state})
        status, body = done
        if status >= 400:
            return JSONResponse(body, status_code=status, media_type=FHIR_JSON)
        if fhir:
            return JSONResponse(async_jobs.batch_response(status, body), media_type=FHIR_JSON)
        return JSONResponse(body, status_code=status)

    @app.delete("/async/{job_id}", tags=["operations"], responses=openapi.ASYNC_DELETE,
                dependencies=openapi.AUTH,
                summary="Cancel an asynchronous $b12-check and forget it")
    async def cancel(job_id: str) -> JSONResponse:
        await to_thread.run_sync(jobs().cancel, job_id)
        return JSONResponse(operation_outcome("the job is cancelled", "informational",
                                              severity="information"),
                            status_code=202, media_type=FHIR_JSON)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (text format)",
             responses=openapi.METRICS, response_class=Response, dependencies=openapi.AUTH)
    async def metrics_text() -> Response:
        body, content_type = await to_thread.run_sync(metrics.render)
        return Response(body, media_type=content_type)

    @app.post("/subscription", tags=["subscriptions"], responses=openapi.NOTIFY_RESPONSES,
              dependencies=openapi.AUTH,
              summary="Subscription rest-hook: R4 (empty or the resource) or R4B/R5 "
                      "notification Bundle", openapi_extra=openapi.NOTIFY_BODY)
    async def notify(request: Request) -> JSONResponse:
        body = await request.body()
        return await answer(lambda: handlers().notify(
            body, request.headers.get("content-type"), request.headers))

    @app.put("/subscription/{resource_type}/{resource_id}", tags=["subscriptions"],
             responses=openapi.NOTIFY_RESPONSES, openapi_extra=openapi.PUT_BODY,
             dependencies=openapi.AUTH,
             summary="Subscription rest-hook, R4 payload form: the resource PUT to "
                     "<endpoint>/<Type>/<id>")
    async def notify_put(request: Request, resource_type: str, resource_id: str
                         ) -> JSONResponse:
        body = await request.body()
        ref = f"{resource_type}/{resource_id}"
        return await answer(lambda: handlers().notify(
            body, request.headers.get("content-type"), request.headers, path_ref=ref))

    @app.get("/cds-services", tags=["cds-hooks"], summary="CDS Hooks discovery",
             responses=openapi.DISCOVERY, dependencies=openapi.AUTH)
    async def cds_discovery() -> dict[str, Any]:
        return cds_hooks.discovery(handlers().judge.mappings)

    for service_id, hook in cds_hooks.HOOKS.items():
        _cds_route(app, service_id, hook, handlers, answer)
        _cds_feedback_route(app, service_id, handlers, answer)

    _error_handlers(app, settings)
    return app


def _operation(app: FastAPI, claim_type: str, handlers: Callable[[], Handlers],
               answer: Callable[[Callable[[], Answer]], Any],
               jobs: Callable[[], async_jobs.AsyncJobs], public_url: str | None) -> None:
    async def check(request: Request) -> JSONResponse:
        body = await request.body()
        fhir = fhir_answer.wants_fhir(request.headers.get("accept"),
                                      request.query_params.get("_format"))
        content_type = request.headers.get("content-type")
        if async_jobs.wants_async(request.headers.get("prefer")):
            job = await to_thread.run_sync(lambda: jobs().submit(
                lambda: handlers().check_operation(body, content_type, claim_type, fhir,
                                                   respond_async=True), fhir))
            base = (public_url or str(request.base_url)).rstrip("/")
            return JSONResponse(
                operation_outcome("accepted: poll Content-Location for the answer",
                                  "informational", severity="information"),
                status_code=202, media_type=FHIR_JSON,
                headers={"content-location": f"{base}/async/{job}", "retry-after": "1"})

        response = await answer(lambda: handlers().check_operation(
            body, request.headers.get("content-type"), claim_type, fhir))
        if fhir:
            response.headers["content-type"] = FHIR_JSON
        response.headers["vary"] = "Accept"
        return response

    app.add_api_route(
        f"/{claim_type}/$b12-check", check, methods=["POST"], tags=["operations"],
        name=f"{claim_type}-b12-check", summary=f"Check one {claim_type}, or a batch",
        description=openapi.operation_description(claim_type),
        responses=openapi.CHECK_RESPONSES, openapi_extra=openapi.check_body(claim_type),
        dependencies=openapi.AUTH)


def _cds_route(app: FastAPI, service_id: str, hook: str, handlers: Callable[[], Handlers],
               answer: Callable[[Callable[[], Answer]], Any]) -> None:
    async def call(request: Request) -> JSONResponse:
        body = await request.body()
        return await answer(lambda: handlers().cds(
            body, request.headers.get("content-type"), service_id))

    app.add_api_route(
        f"/cds-services/{service_id}", call, methods=["POST"], tags=["cds-hooks"],
        name=service_id, summary=f"CDS Hooks service for {hook} (B12 injection orders)",
        responses=openapi.CDS_RESPONSES, openapi_extra=openapi.cds_body(hook),
        dependencies=openapi.AUTH)


def _cds_feedback_route(app: FastAPI, service_id: str, handlers: Callable[[], Handlers],
                        answer: Callable[[Callable[[], Answer]], Any]) -> None:
    async def feedback(request: Request) -> JSONResponse:
        body = await request.body()
        return await answer(lambda: handlers().cds_feedback(
            body, request.headers.get("content-type"), service_id))

    app.add_api_route(
        f"/cds-services/{service_id}/feedback", feedback, methods=["POST"],
        tags=["cds-hooks"], name=f"{service_id}-feedback",
        summary="CDS Hooks feedback: what became of the cards (logged)",
        responses=openapi.FEEDBACK_RESPONSES, openapi_extra=openapi.FEEDBACK_BODY,
        dependencies=openapi.AUTH)


def _error_handlers(app: FastAPI, settings: ServeSettings) -> None:
    def outcome(status: int, body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body, status_code=status, media_type=FHIR_JSON)

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        if exc.status >= 500:
            logger.warning("upstream failure", extra={"status": exc.status,
                                                      "reason": exc.message})
        return outcome(exc.status, exc.outcome())

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return outcome(413, operation_outcome("the request body is over the limit "
                                              "(--max-body-bytes)", "too-costly"))

    @app.exception_handler(BodyTimeout)
    async def body_timeout(_: Request, exc: BodyTimeout) -> JSONResponse:
        metrics.REFUSED.labels("body-timeout").inc()
        response = outcome(408, operation_outcome(
            f"the request body was not received within {settings.body_timeout:g} s "
            "(--body-timeout)", "timeout"))
        response.headers["connection"] = "close"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "invalid")
        response = outcome(exc.status_code, operation_outcome(str(exc.detail), code))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return outcome(400, operation_outcome(f"invalid request: {exc.errors()[:3]}"))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return outcome(500, operation_outcome("internal error; the request id is in the "
                                              "X-Request-ID header and the service log",
                                              "exception"))


# A claim that exercises every stage at start-up (scope, readers, rules, DetectedIssue model).
_WARM_UP_BUNDLE: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Patient", "id": "warm-p", "gender": "female",
                  "birthDate": "1960-01-01"}},
    {"resource": {"resourceType": "Condition", "id": "warm-c",
                  "subject": {"reference": "Patient/warm-p"},
                  "clinicalStatus": {"coding": [{"code": "active"}]},
                  "code": {"coding": [{"system": icd10cm.SYSTEM, "code": "D51.9"}]}}},
    {"resource": {"resourceType": "Observation", "id": "warm-o", "status": "final",
                  "subject": {"reference": "Patient/warm-p"},
                  "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
                  "effectiveDateTime": "2026-01-10",
                  "valueQuantity": {"value": 150, "unit": "pg/mL"}}},
    {"resource": {"resourceType": "Claim", "id": "warm-k", "status": "active",
                  "patient": {"reference": "Patient/warm-p"}, "created": "2026-02-01",
                  "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                      {"system": icd10cm.SYSTEM, "code": "E53.8"}]}}],
                  "item": [{"sequence": 1, "diagnosisSequence": [1],
                            "productOrService": {"coding": [{
                                "system": cds_hooks.HCPCS, "code": "J3420"}]},
                            "servicedDate": "2026-02-01", "quantity": {"value": 1}}]}},
]}
