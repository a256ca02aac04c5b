"""Command line: arguments -> one call in ``adapter.modes``, printing, and the exit status.

Exit status (SPEC section 5): 0 every claim checked; 1 some resources or claims could not be
processed (the rest were), or a server request or write failed; 2 unusable input or
arguments; 3 ``--fail-on`` asked and a finding reached that severity.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple, NoReturn

from adapter import __version__, build, codes_command, modes, parallel
from adapter.config import ConfigError
from adapter.fhir.errors import AuthConfigError, FhirError
from adapter.fhir.limits import DEFAULT_MAX_PAGES, DEFAULT_RETRY_BUDGET
from adapter.fhir.redaction import guard_logs
from adapter.findings import Severity
from adapter.judge import Judge, add_judging_options, day
from adapter.mappings import MappingsError
from adapter.numeric_options import (
    non_negative_int,
    non_negative_seconds,
    port,
    positive_int,
    positive_seconds,
)
from adapter.numeric_options import path as path_option
from adapter.output.paths import OutputError, writable_directory, writable_file
from adapter.output.progress import ProgressBar
from adapter.output.report import Report
from adapter.output.table import render_table
from adapter.output.terminal import log_to_stderr, shown
from adapter.parallel import WorkerError
from adapter.scopes import check_scope, default_scope, load_scope
from adapter.sources.files import FileSource, SourceError
from adapter.spark import command as spark_command
from adapter.sync_state import SyncStateError

if TYPE_CHECKING:  # the server commands import the transport when they run, not before
    from adapter.fhir import FhirClient

EXIT_OK, EXIT_PARTIAL, EXIT_UNUSABLE, EXIT_FINDINGS = 0, 1, 2, 3
DEFAULT_PAGE_SIZE, DEFAULT_TRANSACTION_ENTRIES = 100, 50  # claims a server page, writes a Bundle


class UsageError(Exception):
    """Arguments that parse but cannot be used together."""


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in ``--help`` (argparse's convention; none shown for an option
    with no default or a flag), wider columns."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS) \
                or "(default:" in (action.help or ""):  # said in words: not said twice
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument error in one line, naming where to read more, as every other error of the
    command is (argparse prints the command's whole usage first: twenty lines for check)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_UNUSABLE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common() -> argparse.ArgumentParser:
    """Options every command takes after its name too (``check -v`` as ``-v check``)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log requests and progress")
    return p


class _ServerOption(NamedTuple):
    """One option of the "FHIR server" group, as the group recorded it."""

    dest: str
    flag: str
    default: object


# The --scope default of the commands that write DetectedIssues (check, sync, serve), in words.
_CHECK_SCOPE = ("system/X.read for every type the checks read, and system/DetectedIssue.write "
                "unless --dry-run")


def _server_options(scope: str | None, scope_says: str, *,
                    writes_back: bool = False) -> argparse.ArgumentParser:
    """Connection and auth options shared by every command that talks to a server.

    ``scope`` is the command's --scope default (``adapter.scopes``: what it reads and writes,
    so a read-only grant serves audit), ``scope_says`` it in words; ``writes_back`` adds
    the --dry-run and --max-transaction-entries of the commands that write back (check,
    sync, serve). The options are recorded in
    ``args.server_options``, so a file source refuses each one set, a new one too. Secrets are
    never arguments: they come from environment variables or files.
    """
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("FHIR server")
    options = [
        g.add_argument("--auth", choices=("none", "basic", "bearer", "smart", "client-secret"),
                       default="none",
                       help="how to authenticate: none, basic, bearer, smart or client-secret"),
        g.add_argument("--username", help="basic auth user name"),
        g.add_argument("--password-env", metavar="VAR",
                       help="environment variable with the password"),
        g.add_argument("--password-file", metavar="FILE", help="file holding the password"),
        g.add_argument("--token-env", metavar="VAR",
                       help="environment variable with a bearer token"),
        g.add_argument("--token-file", metavar="FILE", help="file holding a bearer token"),
        g.add_argument("--client-id", help="SMART Backend Services or client-secret client id"),
        g.add_argument("--client-secret-env", metavar="VAR",
                       help="environment variable with the client secret (--auth "
                       "client-secret)"),
        g.add_argument("--client-secret-file", metavar="FILE",
                       help="file holding the client secret"),
        g.add_argument("--token-auth-method", choices=("basic", "post"), default="basic",
                       help="how the client secret is sent: basic (client_secret_basic) or "
                       "post (client_secret_post)"),
        g.add_argument("--private-key-file", metavar="PEM",
                       help="SMART private key (RSA or P-384)"),
        g.add_argument("--key-id", help="SMART key id (kid in the registered JWKS)"),
        g.add_argument("--algorithm", choices=("RS384", "ES384"), default="RS384",
                       help="SMART assertion signing algorithm: RS384 or ES384"),
        g.add_argument("--scope", default=scope,
                       help=f"token scopes requested (default: {scope_says})"),
        g.add_argument("--token-url", help="token endpoint (default: from smart-configuration)"),
        g.add_argument("--ca-bundle", metavar="FILE", help="CA bundle for TLS verification"),
        g.add_argument("--timeout", type=positive_seconds, default=60.0, metavar="SECONDS",
                       help="read timeout per request"),
        g.add_argument("--page-size", type=positive_int, default=DEFAULT_PAGE_SIZE, metavar="N",
                       help="claims per page (_count)"),
        g.add_argument("--stats", action="store_true", help="print HTTP request counts"),
        # Reliability of server runs (README "Reliability: server runs").
        g.add_argument("--retry-budget", type=non_negative_seconds, default=DEFAULT_RETRY_BUDGET,
                       metavar="SECONDS",
                       help="most time one request, with its refused entries, may wait for the "
                       "server's rate-limit window or backoff"),
        g.add_argument("--max-pages", type=positive_int, default=DEFAULT_MAX_PAGES, metavar="N",
                       help="most pages one search may read"),
    ]
    if writes_back:
        options += [
            g.add_argument("--dry-run", action="store_true",
                           help="write nothing, show the DetectedIssue writes instead (printed; "
                           "serve: in its answers)"),
            g.add_argument("--max-transaction-entries", type=positive_int,
                           default=DEFAULT_TRANSACTION_ENTRIES, metavar="N",
                           help="DetectedIssue writes per transaction Bundle"),
        ]
    p.set_defaults(server_options=tuple(_ServerOption(a.dest, a.option_strings[0], a.default)
                                        for a in options))
    return p


def _selection_options(verb: str) -> argparse.ArgumentParser:
    """Which of a server's claims a command reads (``check`` and ``audit``)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--claim", action="append", default=[], metavar="ID",
                   help=f"server: {verb} this claim (repeatable)")
    p.add_argument("--patient", metavar="ID", help=f"server: {verb} this patient's claims")
    p.add_argument("--since", metavar="INSTANT",
                   help="server: claims updated at or after this instant (_lastUpdated)")
    p.add_argument("--search", metavar="QUERY", help="server: a Claim search, 'Claim?...'")
    return p


def _check_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-f", "--format", choices=("table", "json"), default="table",
                   help="table for people, json (the report) for programs")
    add_judging_options(p)
    severities = [s.value for s in Severity]
    p.add_argument("--fail-on", choices=severities, metavar="SEVERITY",
                   help="exit 3 when a finding of this severity or higher is found: "
                   + ", ".join(severities))
    return p


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="b12-adapter", formatter_class=_Help,
        description="Check that B12 injection claims (J3420) are backed by the FHIR chart.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__} ({build.name()})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and progress")
    commands = parser.add_subparsers(dest="command", required=True)
    checks, common = _check_options(), _common()
    # and serve; the default --scope depends on --dry-run, so it is set once parsed
    writes = _server_options(None, _CHECK_SCOPE, writes_back=True)

    check = commands.add_parser("check", parents=[common, checks, writes,
                                                  _selection_options("check")],
                                formatter_class=_Help,
                                help="check claims from files or a FHIR server")
    where = check.add_mutually_exclusive_group(required=True)
    where.add_argument("-s", "--source", type=path_option, metavar="PATH",
                       help="Bundle JSON, NDJSON file, Bulk Data directory or directory of Bundles")
    where.add_argument("--server", metavar="URL", help="FHIR R4 base URL")
    check.add_argument("-o", "--out", type=path_option, metavar="DIR",
                       help="files: write DetectedIssue.ndjson and report.json here")
    check.add_argument("--all", dest="every_claim", action="store_true",
                       help="table: list the clean supported claims and every skipped claim "
                       "too (else their counts)")
    check.add_argument("--workers", type=positive_int, metavar="N",
                       help="files: processes that read and judge (default: with "
                       f"{parallel.AUTO_MIN_B12_CLAIMS:,} or more claims that may bill B12, "
                       "or claims in Bundles and "
                       f"{parallel.AUTO_MIN_BYTES >> 20} MB or more of records, every core "
                       f"but one, at most {parallel.AUTO_MAX_WORKERS}; else 1; "
                       "docs/sources.md)")

    sync = commands.add_parser("sync", parents=[common, checks, writes], formatter_class=_Help,
                               help="check every claim changed since the last successful run")
    sync.add_argument("--server", metavar="URL", required=True, help="FHIR R4 base URL")
    sync.add_argument("--state", type=path_option, required=True, metavar="FILE",
                      help="JSON state file holding the watermark (a .lock file sits beside it)")
    sync.add_argument("--max-claims", type=positive_int, metavar="N", help="stop after N claims")
    sync.add_argument("--overlap-seconds", type=non_negative_int, default=300, metavar="S",
                      help="re-check this much before the watermark (0 or more)")

    uploads = _server_options(None, "system/X.read and system/X.write for every type the "
                              "source holds")  # known once the source is read
    load_cmd = commands.add_parser("load", parents=[common, uploads], formatter_class=_Help,
                                   help="upload fixture data to a sandbox FHIR server")
    load_cmd.add_argument("-s", "--source", type=path_option, metavar="PATH",
                          help="Bundle, NDJSON or Bulk Data directory")
    load_cmd.add_argument("path", type=path_option, nargs="?", default=None,
                          help="deprecated spelling of --source (the path alone)")
    load_cmd.add_argument("--server", metavar="URL", required=True, help="FHIR R4 base URL")
    load_cmd.add_argument("--max-transaction-entries", type=positive_int, metavar="N",
                          help="resources per transaction Bundle (default 8, 50 with "
                          "--keep-ids)")
    load_cmd.add_argument("--keep-ids", action="store_true",
                          help="PUT each resource to its own id (servers that create by update, "
                          "such as HAPI) instead of conditional creates with server ids")
    _serve_parser(commands, writes, common)
    _audit_parser(commands, _server_options(default_scope(writes=False), "system/X.read for "
                                            "every type the audit reads; it writes nothing"),
                  common)

    # --- spark (issue 14): the same checks on Apache Spark; pyspark is imported only by it ---
    spark = commands.add_parser("spark", parents=[common], formatter_class=_Help,
                                help="check a Bulk Data export on Apache Spark "
                                "(needs the spark extra)")
    spark_command.add_arguments(spark)
    codes_command.add_parser(commands)  # the ICD-10-CM releases installed (SPEC 4.3)
    return parser


# --- serve: the HTTP service (adapter/service; needs the `serve` extra) ----------------------


def _serve_parser(commands: argparse._SubParsersAction, server: argparse.ArgumentParser,
                  common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common, server], formatter_class=_Help,
        help="HTTP service: $b12-check, Subscriptions, CDS Hooks")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=port, default=8080, help="port to listen on")
    serve.add_argument("--workers", type=positive_int, default=1, help="worker processes")
    serve.add_argument("--server", metavar="URL",
                       help="FHIR R4 base URL: charts are read from it, DetectedIssues written")
    serve.add_argument("--config", type=path_option, metavar="FILE",
                       help="TOML or JSON settings, as for check: thresholds and windows, "
                       "facility_timezone, payer policies, notes (docs/configuration.md)")
    serve.add_argument("--state", type=path_option, metavar="FILE",
                       help="sync state file: an empty Subscription notification runs a sync")
    serve.add_argument("--overlap-seconds", type=non_negative_int, default=300, metavar="S",
                       help="with --state: re-check this much before the watermark (0 or "
                       "more)")
    serve.add_argument("--api-token-env", metavar="VAR",
                       help="environment variable with the bearer token callers must send")
    serve.add_argument("--api-token-file", metavar="FILE",
                       help="file with the callers' bearer token(s), one per line")
    serve.add_argument("--allow-unauthenticated", action="store_true",
                       help="listen on an address other machines reach with no caller "
                            "authentication (a gateway in front authenticates): refused "
                            "otherwise")
    serve.add_argument("--client-cert-header", metavar="NAME",
                       help="header in which a TLS-terminating proxy passes the client "
                            "certificate subject (required on every request when set)")
    serve.add_argument("--allow-client-subject", action="append", default=[], metavar="DN",
                       help="client certificate subject allowed (repeatable)")
    serve.add_argument("--max-body-bytes", type=positive_int, default=5 * 1024 * 1024, metavar="N",
                       help="largest request body accepted")
    serve.add_argument("--max-batch-claims", type=positive_int, default=1000, metavar="N",
                       help="most claims one $b12-check batch may hold")
    serve.add_argument("--max-async-claims", type=positive_int, default=50_000, metavar="N",
                       help="most claims a batch sent with Prefer: respond-async may hold")
    serve.add_argument("--max-concurrent", type=positive_int, default=64, metavar="N",
                       help="requests answered at once per worker; past it 429 with "
                            "Retry-After")
    serve.add_argument("--body-timeout", type=positive_seconds, default=30.0, metavar="SECONDS",
                       help="time to receive a request body; past it 408")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="browser origin allowed to call the service (CDS Hooks sandbox, "
                            "SMART apps; repeatable; '*' for any)")
    serve.add_argument("--cds-issuer", action="append", default=[], metavar="ISS=JWKS_URL",
                       help="a CDS client whose signed JWTs are trusted, and the JWKS URL "
                            "it publishes its keys at (repeatable)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the service's URL as callers see it (the aud of CDS clients' "
                            "JWTs when a proxy rewrites the host)")
    serve.add_argument("--cds-fhir-server", action="append", default=[], metavar="URL",
                       help="fhirServer a CDS Hooks request may have the service read "
                            "(repeatable; without it only prefetch is used)")
    serve.add_argument("--graceful-timeout", type=non_negative_seconds, default=30.0,
                       metavar="SECONDS",
                       help="on SIGTERM, how long requests in flight may take to finish")
    serve.add_argument("--log-level", choices=("debug", "info", "warning"), default="info",
                       help="debug, info or warning")


def _missing_extra(command: str, what: str, extra: str, exc: ImportError) -> int:
    """A command whose optional dependencies are not installed says how to install them."""
    print(f"b12-adapter: {command} needs {what} ({exc.name} is missing): "
          f"{build.install_hint(extra)}", file=sys.stderr)
    return EXIT_UNUSABLE


def _serve(args: argparse.Namespace) -> int:
    try:
        from adapter.service.run import serve, settings_from_args
    except ImportError as exc:
        return _missing_extra("serve", "the serve extra", "serve", exc)
    from adapter.service.settings import SettingsError

    if args.stats:  # accepted by the shared server options, and ignored until issue 25
        raise UsageError("--stats is for check, sync, audit and load: serve prints no "
                         "request counts")
    if not args.server and (given := _server_options_given(args)):
        raise UsageError(f"{_need(given)} --server: without it the service judges the "
                         "records posted with each claim (no connection, no auth, no "
                         "write-back)")
    try:
        serve(settings_from_args(args), host=args.host, port=args.port, workers=args.workers,
              graceful_timeout=args.graceful_timeout, log_level=args.log_level,
              allow_unauthenticated=args.allow_unauthenticated)
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc
    return EXIT_OK


# --- audit: the coder's review as one HTML page (adapter/output/audit; the `audit` extra) ---


def _audit_parser(commands: argparse._SubParsersAction, server: argparse.ArgumentParser,
                  common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser(
        "audit", parents=[common, server, _selection_options("audit")], formatter_class=_Help,
        help="the coder's review as one HTML page: charts, patterns, the last claims per provider")
    where = audit.add_mutually_exclusive_group(required=True)
    where.add_argument("-s", "--source", type=path_option, metavar="PATH",
                       help="Bundle JSON, NDJSON file, Bulk Data directory or directory of Bundles")
    where.add_argument("--server", metavar="URL", help="FHIR R4 base URL (read only)")
    audit.add_argument("-o", "--out", type=path_option, required=True, metavar="FILE|DIR",
                       help="the HTML page to write (one self-contained file); a directory: "
                       "audit.html in it")
    audit.add_argument("--from", dest="period_from", type=day, metavar="DATE",
                       help="first service date of the period (default: the earliest read)")
    audit.add_argument("--to", dest="period_to", type=day, metavar="DATE",
                       help="last service date of the period (default: the latest read)")
    audit.add_argument("--sample", type=positive_int, default=10, metavar="N",
                       help="claims per provider in the sample table")
    audit.add_argument("--show-names", action="store_true",
                       help="show patient names (default: references only; the page travels "
                       "by email)")
    audit.add_argument("--link-base", metavar="URL",
                       help="link each claim and resource to its page under this web address "
                       "(URL/Type/id, or URL with {type} and {id} filled in), e.g. the EHR's "
                       "or the FHIR server's web view")
    add_judging_options(audit)


def _audit(args: argparse.Namespace) -> int:
    try:
        from adapter.output.audit.collect import VERDICTS, Period
        from adapter.output.audit.html import render  # noqa: F401 - needs the extra
    except ImportError as exc:
        return _missing_extra("audit", "the audit extra", "audit", exc)
    if args.out.is_dir():
        args.out = args.out / "audit.html"
    writable_file(args.out)  # before the work, not after it
    try:
        period = Period(args.period_from, args.period_to)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.link_base:
        from adapter.output.audit.html import check_link_base

        try:
            check_link_base(args.link_base)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    options = {"period": period, "sample_size": args.sample, "show_names": args.show_names,
               "link_base": args.link_base}
    if args.source:
        _file_source_only(args)
    judge = _judge(args)
    if args.source:
        run = modes.audit_files(judge, args.source, args.out, **options)
    else:
        from adapter.sources.server import ClaimSelection

        try:
            selection = ClaimSelection(ids=tuple(args.claim), patient=args.patient,
                                       since=args.since, search=args.search)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        with _client(args) as client:
            run = modes.audit_server(judge, client, selection, args.out, **options)
            if args.stats:
                print("requests: " + json.dumps(client.stats.as_dict()), file=sys.stderr)
    for problem in run.report.errors:  # references and problems only: never a name
        print(shown(f"b12-adapter: {problem.resource}: {problem.message}"), file=sys.stderr)
    for note in run.report.run_notes():  # once per run (SPEC 4.3)
        print(shown(f"b12-adapter: note: {note}"), file=sys.stderr)
    t = run.audit.total
    print(f"audit: {t.claims} claims in the period ({period.describe()}): "
          + ", ".join(f"{t.verdicts[v]} {v.value}" for v in VERDICTS)
          + f"; sample of {run.sampled} claims from {len(run.audit.sample)} providers; "
          f"written to {args.out}")
    return _exit_status(run.report, None, run.failed)


def _exit_status(report: Report, fail_on: str | None, failed: bool = False) -> int:
    if report.errors or failed:
        return EXIT_PARTIAL
    worst = report.worst_severity()
    if fail_on and worst and worst.rank >= Severity(fail_on).rank:
        return EXIT_FINDINGS
    return EXIT_OK


def _client(args: argparse.Namespace, writable: frozenset[str] | None = None,
            scope: str | None = None) -> FhirClient:
    """The command's server client; ``scope`` is the --scope default when the command's is
    known only once its source is read (load)."""
    from adapter.fhir import FhirClient, RetryPolicy, auth_from_settings

    auth = auth_from_settings(
        args.auth, username=args.username, password_env=args.password_env,
        password_file=args.password_file, token_env=args.token_env, token_file=args.token_file,
        client_id=args.client_id, private_key_file=args.private_key_file, key_id=args.key_id,
        algorithm=args.algorithm, scope=scope if args.scope is None else args.scope,
        token_url=args.token_url, client_secret_env=args.client_secret_env,
        client_secret_file=args.client_secret_file,
        token_auth_method=args.token_auth_method,
    )
    options = {"writable_types": writable} if writable else {}
    try:
        retry = RetryPolicy(max_total_seconds=args.retry_budget)
        return FhirClient(args.server, auth=auth, timeout=(10.0, args.timeout),
                          verify=args.ca_bundle or True, page_size=args.page_size,
                          retry=retry, max_pages=args.max_pages, **options)
    except ValueError as exc:  # an unusable base URL, page size, retry budget or page bound
        raise UsageError(str(exc)) from exc


def _judge(args: argparse.Namespace) -> Judge:
    return Judge.load(args.config, args.facility_timezone)


def _print_report(report: Report, fmt: str, every_claim: bool = False) -> None:
    """JSON is indented on a terminal and compact when piped to a program (much faster);
    the run's notes go to stderr too, once each."""
    for note in report.run_notes():
        print(shown(f"b12-adapter: note: {note}"), file=sys.stderr)
    try:
        if fmt == "json":
            report.write_json(sys.stdout, indent=2 if sys.stdout.isatty() else None)
            sys.stdout.write("\n")
        else:
            print(render_table(report, every_claim=every_claim))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` read what it wanted: the run ends as it would have
        _stdout_closed()


def _print_server_summary(client: FhirClient, run: modes.ServerRun,
                          args: argparse.Namespace) -> None:
    writes = run.writes
    for line in writes.planned:
        print(shown(f"dry-run: would {line}"), file=sys.stderr)
    if args.dry_run:  # nothing sent, so nothing confirmed: what the server holds already
        print(f"DetectedIssues (dry run: nothing written): {len(writes.planned)} write(s) "
              f"planned, {writes.unchanged} unchanged on the server", file=sys.stderr)
    else:
        print(f"DetectedIssues (as the server confirmed): created {writes.created}, "
              f"updated {writes.updated}, cancelled {writes.cancelled}, unchanged "
              f"{writes.unchanged}, failed {writes.failed}", file=sys.stderr)
    if args.stats:
        checked = max(len(run.report.claims) + len(run.report.skipped), 1)
        stats = client.stats.as_dict()
        stats["requests_per_claim"] = round(client.stats.total / checked, 3)
        print("requests: " + json.dumps(stats), file=sys.stderr)


def _file_source_only(args: argparse.Namespace) -> None:
    """A file source (check, audit) refuses the options it would ignore: the server's
    selection, and every option of the "FHIR server" group set to other than its default
    (``--token-env X --source dir`` did nothing, silently)."""
    if args.claim or args.patient or args.since or args.search:
        raise UsageError("--claim, --patient, --since and --search need --server")
    if given := _server_options_given(args):
        raise UsageError(f"{_need(given)} --server: a file source is read from disk (no "
                         "connection, no auth, no write-back)")


def _server_options_given(args: argparse.Namespace) -> list[str]:
    """The flags of the "FHIR server" group set to other than their default."""
    return [o.flag for o in args.server_options if getattr(args, o.dest) != o.default]


def _need(flags: list[str]) -> str:
    """'--a needs', '--a and --b need', '--a, --b and --c need'."""
    if len(flags) == 1:
        return f"{flags[0]} needs"
    return f"{', '.join(flags[:-1])} and {flags[-1]} need"


def _check_files(args: argparse.Namespace) -> int:
    _file_source_only(args)
    if args.out is not None:
        writable_directory(args.out)  # before the work, not after it
    report = modes.check_files(_judge(args), args.source, args.out, workers=args.workers,
                               progress=ProgressBar.on(sys.stderr))
    _print_report(report, args.format, args.every_claim)
    if _no_claims(report):
        print(shown(f"b12-adapter: no claims found in {args.source} (no Claim or "
                    "ExplanationOfBenefit resource)"), file=sys.stderr)
    return _exit_status(report, args.fail_on)


_RESOURCE_REF = re.compile(r"[A-Z][A-Za-z]+/[^/\s]+$")


def _no_claims(report: Report) -> bool:
    """No claim was checked, skipped or named by an error (one read but not judgeable, its
    date out of range, is a claim found), and nothing that might hold one went unread: an
    error naming a file, a line or a search, not a resource (``claims.json``,
    ``Claim.ndjson:3``, ``Claim search``), may have hidden claims."""
    claims_erred = any(e.resource.startswith(("Claim/", "ExplanationOfBenefit/"))
                       or not _RESOURCE_REF.match(e.resource) for e in report.errors)
    return not report.claims and not len(report.skipped) and not claims_erred


def _check_server(args: argparse.Namespace) -> int:
    from adapter.sources.server import ClaimSelection

    if args.out:
        raise UsageError("--out is for file sources; a server run writes DetectedIssues back")
    if args.workers:
        raise UsageError("--workers is for file sources")
    try:
        selection = ClaimSelection(ids=tuple(args.claim), patient=args.patient,
                                   since=args.since, search=args.search)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    judge = _judge(args)
    with _client(args) as client:
        bar = ProgressBar.on(sys.stderr)
        run = modes.check_server(judge, client, selection, dry_run=args.dry_run,
                                 max_entries=args.max_transaction_entries,
                                 sinks=[bar] if bar else [])
        _print_report(run.report, args.format, args.every_claim)
        if _no_claims(run.report) and not run.failed:
            print(shown(f"b12-adapter: no claims found on {client.base_url} for this "
                        "selection"), file=sys.stderr)
        _print_server_summary(client, run, args)
    return _exit_status(run.report, args.fail_on, run.failed)


def _sync(args: argparse.Namespace) -> int:
    judge = _judge(args)
    with _client(args) as client:
        run, outcome = modes.sync(
            judge, client, args.state, dry_run=args.dry_run,
            max_entries=args.max_transaction_entries,
            overlap=timedelta(seconds=args.overlap_seconds), max_claims=args.max_claims,
            progress=sys.stderr)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        _print_report(run.report, args.format)
        _print_server_summary(client, run, args)
        moved = (f"watermark {outcome.before.watermark or '(none)'} -> {outcome.after.watermark}"
                 if outcome.moved else f"watermark stays at {outcome.before.watermark or '(none)'}")
        print(f"sync: {moved}", file=sys.stderr)
    return _exit_status(run.report, args.fail_on, run.failed)


def _load(args: argparse.Namespace) -> int:
    from adapter.load import load, load_resources, writable_types

    if args.source and args.path:
        raise UsageError("give the path once: --source PATH")
    path = args.source or args.path
    if path is None:
        raise UsageError("load needs --source PATH (a Bundle, NDJSON file or Bulk Data "
                         "directory)")
    if args.path is not None:
        print("b12-adapter: `load PATH` is deprecated: write `load --source PATH`",
              file=sys.stderr)
    resources, unreadable = load_resources(FileSource.open(path))
    types = writable_types(resources)
    with _client(args, writable=types, scope=load_scope(types)) as client:
        try:
            totals = load(client, resources, args.max_transaction_entries,
                          keep_ids=args.keep_ids)
        finally:
            if args.stats:
                print("requests: " + json.dumps(client.stats.as_dict()), file=sys.stderr)
    for problem in [*unreadable, *totals.problems]:
        print(shown(f"b12-adapter: {problem.resource}: {problem.message}"), file=sys.stderr)
    if totals.loaded < len(resources):
        print(f"b12-adapter: {len(resources) - totals.loaded} of {len(resources)} resources "
              "were NOT loaded: the server refused them, or what they point at (see above)"
              + ("; a server that refuses client ids takes them without --keep-ids"
                 if args.keep_ids else ""), file=sys.stderr)
    there = totals.loaded - totals.created - totals.unsure
    found = "" if args.keep_ids else (
        f": {totals.created} created, {there} already there" + (
            f", {totals.unsure} created now or already there (sent again after an answer that "
            "never came)" if totals.unsure else ""))
    print(f"loaded {totals.loaded} of {len(resources)} resources (as the server confirmed) "
          f"in {totals.transactions} transaction(s) into {args.server}{found}")
    return EXIT_PARTIAL if unreadable or totals.problems else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever a source holds, the report is printed: a character the terminal cannot show
    # is written as an escape (in JSON output a valid one), never a crash that loses it.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return _main(argv)
    except BrokenPipeError:  # `| head`: the reader has what it wanted; end quietly
        _stdout_closed()
        return EXIT_PARTIAL


def _stdout_closed() -> None:
    """Point stdout at /dev/null, so nothing more (nor the flush at exit) writes to the
    closed pipe and raises again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (captured in tests)
        pass


def _default_scope(args: argparse.Namespace) -> None:
    """The --scope of check, sync and serve against a server when none is given: a dry run
    writes nothing, so it asks only to read (a read-only grant serves it)."""
    if (args.command in ("check", "sync", "serve") and getattr(args, "server", None)
            and args.scope is None):
        args.scope = check_scope(dry_run=args.dry_run)


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the command's own parser, whose --help lists what it takes
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    _default_scope(args)
    log_to_stderr(logging.DEBUG if args.verbose else logging.WARNING)
    guard_logs(logging.getLogger().handlers)  # no secret in any library's log line
    try:
        if args.command == "check":
            return _check_files(args) if args.source else _check_server(args)
        if args.command == "sync":
            return _sync(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "audit":
            return _audit(args)
        if args.command == "spark":
            return spark_command.run(args)
        if args.command == "codes":
            return codes_command.run(args)
        return _load(args)
    except (SourceError, ConfigError, MappingsError, AuthConfigError, UsageError,
            SyncStateError, OutputError) as exc:
        print(shown(f"b12-adapter: {exc}"), file=sys.stderr)
        return EXIT_UNUSABLE
    except FhirError as exc:
        print(shown(f"b12-adapter: {exc}"), file=sys.stderr)
        return EXIT_PARTIAL
    except WorkerError as exc:  # nothing was printed: the report would have been incomplete
        print(shown(f"b12-adapter: {exc}"), file=sys.stderr)
        return EXIT_UNUSABLE
