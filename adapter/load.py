"""``load``: upload fixture data to a sandbox server, so a developer can try the adapter.

One strategy for every server: each resource is a conditional create (``POST Type`` with
``ifNoneExist`` on a source identifier, ``urn:b12-fhir-adapter:source-id|Type/id``, added to
the resource), with a ``urn:uuid`` fullUrl. Servers that refuse client-chosen ids (Medplum: a
PUT to a new id is "400 Invalid id") take it, servers that create by PUT (HAPI) take it too,
and loading twice creates nothing new: the server finds each resource by its source
identifier. The server chooses the ids, so links are rewritten to the ``Type/id`` the server
gave the resource pointed at: every form of link the file source follows (a Reference
relative, absolute or versioned, a note's attachment url to its Binary; ``_as_loaded``). A
link to a loaded resource in any other element (``Patient.photo.url``) cannot be, and holds
its resource back, named. A resource never shares a transaction with what it points
at (servers do not all roll a transaction back when an entry is refused): it goes up once its
targets landed, and is held back, named, when one of them did not. Several resources with one
id (Bundles that reuse ids) are named, never merged silently. This is the one command allowed
to write other types than DetectedIssue. What is counted as loaded is what the server
confirmed, entry by entry.

``keep_ids`` puts each resource to its own id instead (``PUT Type/id``), for servers that
create by update (HAPI, the test server): the ids stay those of the files, and no search runs
per resource. A server that refuses client ids refuses every entry, and says so.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from adapter.evidence.fields import resolvable
from adapter.fhir import FhirClient, FhirError, FhirUnreachableError
from adapter.fhir.bundles import rewrite_references
from adapter.outcomes import Problem
from adapter.sources.base import Reads
from adapter.sources.files import FileSource

SOURCE_ID_SYSTEM = "urn:b12-fhir-adapter:source-id"
ORDER = ("Patient", "Practitioner", "Organization", "Location", "Encounter", "Medication",
         "Condition", "Observation", "MedicationAdministration", "Coverage", "Claim")
# Entries per transaction: Medplum runs a transaction holding conditional creates only up to 8
# entries ("requires strict isolation but has too many entries"), updates up to 50.
CHUNK = 8
CHUNK_BY_ID = 50
_URN_NAMESPACE = uuid.UUID("5d3f6f0e-0b8e-4a55-9a36-6f4c1b1f2a10")
_SERVER_META = ("versionId", "lastUpdated", "source")  # the server sets these itself
# Elements that hold a URL, where a link load does not rewrite would be left (``_stray``).
_URL_ELEMENTS = ("url", "valueUrl", "valueUri")


@dataclass
class LoadTotals:
    loaded: int = 0  # entries the server confirmed (2xx)
    created: int = 0  # of which new (201); the rest were found by their source identifier
    # of which found (200) by a conditional create sent again after an attempt whose answer
    # never came: created by that attempt or by an earlier load, the server does not say
    unsure: int = 0
    transactions: int = 0
    problems: list[Problem] = field(default_factory=list)  # entries refused, unreadable input

    @property
    def refused(self) -> int:
        """Resources the server refused, or not sent because one they point at was refused."""
        return sum(1 for p in self.problems if p.resource != "load transaction")


def load_resources(source: FileSource) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every resource of the source, references as ``Type/id``, each after the resources it
    references (types in ``ORDER`` first, then whatever a reference needs earlier)."""
    items = [*source.records(Reads()).resources,
             *(item for page in source.claim_pages() for item in page)]
    problems = [item for item in items if isinstance(item, Problem)]
    resources = _once_each([rewrite_references(r, source.aliases) for r in items
                            if not isinstance(r, Problem) and r.get("id")], problems)
    loading = {_ref(r) for r in resources}
    resources = [_as_loaded(r, loading) for r in resources]  # ordered by every form
    rank = {rtype: n for n, rtype in enumerate(ORDER)}
    resources.sort(key=lambda r: rank.get(r["resourceType"], len(ORDER) - 1))
    return _referenced_first(resources), problems


def _once_each(resources: list[dict[str, Any]], problems: list[Problem]
               ) -> list[dict[str, Any]]:
    """Each ``Type/id`` once. Several Bundles that reuse ids (``Patient/p1`` in each) would
    otherwise be merged on the server without a word: the first is loaded, each other with
    the same id and other content is named, not loaded (a copy of the same resource is one)."""
    first: dict[str, dict[str, Any]] = {}
    again: dict[str, int] = {}
    for resource in resources:
        ref = _ref(resource)
        if ref not in first:
            first[ref] = resource
        elif resource != first[ref]:
            again[ref] = again.get(ref, 0) + 1
    problems.extend(Problem(ref, f"{n + 1} resources in the source have this id, with other "
                                 "content (Bundles or files that reuse ids): only the first "
                                 "is loaded; give each its own id to load them all")
                    for ref, n in again.items())
    return list(first.values())


def _referenced_first(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stable order in which a resource comes after the resources it references (where
    references do not form a cycle)."""
    by_ref = {_ref(r): r for r in resources}
    placed: set[str] = set()
    visiting: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def place(ref: str) -> None:
        if ref in placed or ref in visiting:
            return
        visiting.add(ref)
        for target in sorted(_links(by_ref[ref]) & by_ref.keys()):
            place(target)
        visiting.discard(ref)
        placed.add(ref)
        ordered.append(by_ref[ref])

    for resource in resources:
        place(_ref(resource))
    return ordered


def _ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def _as_loaded(resource: dict[str, Any], loading: set[str]) -> dict[str, Any]:
    """A copy of ``resource`` whose links to resources being loaded are written as their
    ``Type/id``, however the source wrote them, as the file source reads them
    (``fields.resolvable``): absolute (``http://host/fhir/Condition/c3``), versioned
    (``Condition/c2/_history/1``: the source's versions are not the server's) or padded.
    Links are every Reference's ``reference`` and a note's attachment ``url`` to its Binary
    (adapter.notes.documents); load orders by them and points them at the server's ids (they
    were sent as written, and pointed at ids the server does not have)."""

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            out = {key: walk(item) for key, item in value.items()}
            if isinstance(out.get("reference"), str) \
                    and (target := resolvable(out["reference"])) in loading:
                out["reference"] = target
            return out
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value

    copy = walk(resource)
    for attachment in _note_attachments(copy):
        if isinstance(attachment.get("url"), str) \
                and (target := resolvable(attachment["url"])) in loading:
            attachment["url"] = target
    return copy


def _note_attachments(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The attachments whose ``url`` a note's body is read from (adapter.notes.documents)."""
    if resource.get("resourceType") == "DocumentReference":
        contents = resource.get("content")
        found = [c.get("attachment") for c in contents if isinstance(c, dict)] \
            if isinstance(contents, list) else []
    elif resource.get("resourceType") == "DiagnosticReport":
        forms = resource.get("presentedForm")
        found = list(forms) if isinstance(forms, list) else []
    else:
        return []
    return [a for a in found if isinstance(a, dict)]


def _links(resource: dict[str, Any]) -> set[str]:
    """What ``resource`` points at: its references and its note attachments' urls."""
    return _references(resource) | {a["url"] for a in _note_attachments(resource)
                                     if isinstance(a.get("url"), str)}


def _stray(resource: dict[str, Any], loading: set[str]) -> list[tuple[str, str]]:
    """(element, ``Type/id``) of each URL element other than a note attachment's that names
    a resource being loaded (``Patient.photo.url``): load does not rewrite it (it cannot tell
    a link from a web page's URL there), so under the server's ids it would point at nothing.
    A canonical resource's own ``url`` and an extension's ``url`` name no loaded resource:
    they are identities, the same on every server."""
    skip = {id(a) for a in _note_attachments(resource)}
    found: list[tuple[str, str]] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            named = bool(where) and id(value) not in skip and not _is_extension(value)
            for key, item in value.items():
                at = f"{where}.{key}" if where else key
                if (key in _URL_ELEMENTS and isinstance(item, str)
                        and (named or key != "url")
                        and (target := resolvable(item)) in loading):
                    found.append((at, target))
                else:
                    walk(item, at)
        elif isinstance(value, list):
            for n, item in enumerate(value):
                walk(item, f"{where}[{n}]")

    walk(resource, "")
    return found


def _is_extension(value: dict[str, Any]) -> bool:
    return all(key in ("id", "url", "extension") or key.startswith("value") for key in value)


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            found.add(value["reference"])
        for item in value.values():
            found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def _chunks(resources: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(resources), max(1, size)):
        yield resources[start:start + size]


def writable_types(resources: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(r["resourceType"] for r in resources)


def full_url(ref: str) -> str:
    """The ``urn:uuid`` a resource is known by inside a transaction (the same every load)."""
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, ref)}"


def source_identifier(ref: str) -> dict[str, str]:
    return {"system": SOURCE_ID_SYSTEM, "value": ref}


def conditional_create(resource: dict[str, Any], references: dict[str, str]) -> dict[str, Any]:
    """The transaction entry creating ``resource`` unless the server holds its source id;
    ``references`` maps the source's ``Type/id`` to what the entry must point at."""
    ref = _ref(resource)
    body = {k: rewrite_references(v, references) for k, v in resource.items() if k != "id"}
    for attachment in _note_attachments(body):  # a copy, as every part of body
        if attachment.get("url") in references:
            attachment["url"] = references[attachment["url"]]
    meta = {k: v for k, v in (body.get("meta") or {}).items() if k not in _SERVER_META}
    if meta:
        body["meta"] = meta
    else:
        body.pop("meta", None)
    if not _has_identifier_list(resource["resourceType"]):  # one Identifier (Composition)
        body["identifier"] = source_identifier(ref)
    else:
        identifiers = [i for i in body.get("identifier") or [] if i != source_identifier(ref)]
        body["identifier"] = [*identifiers, source_identifier(ref)]
    condition = quote(f"{SOURCE_ID_SYSTEM}|{ref}", safe="")
    return {"fullUrl": full_url(ref), "resource": body,
            "request": {"method": "POST", "url": resource["resourceType"],
                        "ifNoneExist": f"identifier={condition}"}}


def update_by_id(resource: dict[str, Any]) -> dict[str, Any]:
    """The transaction entry putting ``resource`` to its own id (``keep_ids``)."""
    return {"resource": resource,
            "request": {"method": "PUT", "url": _ref(resource)}}


def load(client: FhirClient, resources: list[dict[str, Any]], chunk_size: int | None = None,
         *, keep_ids: bool = False) -> LoadTotals:
    """Send ``resources`` (referenced ones first) in transactions of at most ``chunk_size``.
    A resource never shares a transaction with what it points at: servers do not all roll a
    transaction back when one entry is refused (Medplum does not), and a Claim committed
    beside a refused Condition would point at nothing. So what it points at goes up first,
    and it goes only when all of that landed. The members of a reference cycle go up
    together (nothing else can be first), whole or not at all."""
    totals = LoadTotals()
    chunk_size = max(1, chunk_size or (CHUNK_BY_ID if keep_ids else CHUNK))
    loading = {_ref(r) for r in resources}
    resources = [_as_loaded(r, loading) for r in resources]
    on_server: dict[str, str] = {}  # source Type/id -> the server's Type/id, once loaded
    lost: set[str] = set()  # refused, or pointing at something refused
    sent: list[tuple[str, dict[str, Any]]] = []  # the transaction being filled

    def send() -> None:
        if not sent:
            return
        bundle = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [entry for _, entry in sent]}
        totals.transactions += 1
        try:
            results = client.transaction(bundle)
        except FhirUnreachableError:
            raise  # no server there: nothing else would land either
        except FhirError as exc:
            lost.update(ref for ref, _ in sent)
            totals.problems.append(Problem("load transaction", str(exc)))
            totals.problems.extend(Problem(ref, "not loaded: its transaction failed")
                                   for ref, _ in sent)
            sent.clear()
            return
        for (ref, _), result in zip(sent, results, strict=True):
            if result.ok and result.target:
                totals.loaded += 1
                totals.created += result.status == 201
                totals.unsure += result.status != 201 and result.resent
                on_server[ref] = result.target
            else:
                lost.add(ref)
                error = str(result.error()) if not result.ok else (
                    f"{result.status}, but the server did not say where it is")
                totals.problems.append(Problem(ref, error))
        sent.clear()

    ordered = _referenced_first(resources)
    pointing = {_ref(r): (_links(r) & loading) - {_ref(r)} for r in ordered}
    # (a cycle cannot wait for its members to land first: it goes up in one transaction)
    in_chunk: set[str] = set()
    for unit in _units(ordered, pointing):
        refs = {_ref(r) for r in unit}
        outside = set().union(*(pointing[r] for r in refs)) - refs
        if len(sent) + len(unit) > chunk_size or outside & in_chunk:
            send()  # what it points at goes up, and must land, first
            in_chunk.clear()
        held: dict[str, str] = {}  # member -> why it is not sent
        for resource in unit:
            ref = _ref(resource)
            missing = sorted((pointing[ref] - refs) & lost) or sorted(
                (pointing[ref] - refs) - on_server.keys())
            if missing:
                why = "the server did not take it" if set(missing) <= lost else (
                    "it comes later (a reference cycle)")
                held[ref] = f"it points at {', '.join(missing)} and {why}"
            elif not keep_ids and (stray := _stray(resource, loading)):
                element, target = stray[0]
                held[ref] = (f"{element} names {target}, which load cannot point at the "
                             "server's id there (only references and a note's attachment "
                             "url are rewritten): make it a reference, or load with "
                             "--keep-ids")
            elif not keep_ids and not _has_identifier_list(resource["resourceType"]) and not (
                    _has_single_identifier(resource["resourceType"])
                    and "identifier" not in resource):
                held[ref] = (f"a {resource['resourceType']} has no identifier to find it by "
                             "on a second load")
        while more := {r: f"it points at {', '.join(sorted(pointing[r] & held.keys()))}, "
                          "which is not sent"
                       for r in refs - held.keys() if pointing[r] & held.keys()}:
            held |= more  # a cycle goes up whole or not at all
        for resource in unit:
            ref = _ref(resource)
            if ref in held:
                lost.add(ref)
                totals.problems.append(Problem(ref, f"not loaded: {held[ref]}"))
            elif keep_ids:
                sent.append((ref, update_by_id(resource)))
            else:  # members of one cycle point at each other by their fullUrls
                references = {**on_server, **{r: full_url(r) for r in refs - held.keys()}}
                sent.append((ref, conditional_create(resource, references)))
            in_chunk.add(ref)
    send()
    return totals


def _units(ordered: list[dict[str, Any]], pointing: dict[str, set[str]]
           ) -> list[list[dict[str, Any]]]:
    """The resources in units that go up together, each unit after the units it points at:
    one resource, or the resources of a reference cycle (a Condition and its Encounter
    pointing at each other), which must share a transaction, pointing at each other by their
    fullUrls. Tarjan's strongly connected components, which come out targets first."""
    by_ref = {_ref(r): r for r in ordered}
    position = {ref: n for n, ref in enumerate(by_ref)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    units: list[list[dict[str, Any]]] = []

    def visit(ref: str) -> None:
        index[ref] = low[ref] = len(index)
        stack.append(ref)
        on_stack.add(ref)
        for target in sorted(pointing[ref], key=position.__getitem__):
            if target not in index:
                visit(target)
                low[ref] = min(low[ref], low[target])
            elif target in on_stack:
                low[ref] = min(low[ref], index[target])
        if low[ref] == index[ref]:
            members: list[str] = []
            while not members or members[-1] != ref:
                members.append(stack.pop())
                on_stack.discard(members[-1])
            units.append([by_ref[m] for m in sorted(members, key=position.__getitem__)])

    for ref in by_ref:
        if ref not in index:
            visit(ref)
    return units


@functools.cache
def _has_single_identifier(resource_type: str) -> bool:
    """A type with one ``identifier`` (Composition, QuestionnaireResponse): the source id can
    be that one, when the resource has none of its own."""
    from fhir.resources.R4B import get_fhir_model_class  # heavy: only when loading

    try:
        field_info = get_fhir_model_class(resource_type).model_fields.get("identifier")
    except (ValueError, KeyError):
        return False
    return field_info is not None and "List" not in str(field_info.annotation)


@functools.cache
def _has_identifier_list(resource_type: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class  # heavy: only when loading

    try:
        field_info = get_fhir_model_class(resource_type).model_fields.get("identifier")
    except (ValueError, KeyError):
        return False
    return field_info is not None and "List" in str(field_info.annotation)
