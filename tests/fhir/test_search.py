"""Searches: a query is a value; pages are read lazily, next links followed verbatim, expired
pages restart the search, and paging that would never end is stopped."""

from __future__ import annotations

import pytest
import responses

from adapter.fhir import FhirError, PageExpiredError, Query, includes
from tests.fhir.testkit import BASE, claim, make_client, outcome, searchset

FIRST = f"{BASE}/Claim?status=active&_count=2"
HAPI_PAGE_2 = (
    f"{BASE}?_getpages=8f0b7c1e-2d2a-4b4e&_getpagesoffset=2&_count=2"
    "&_pretty=true&_bundletype=searchset"
)
HAPI_PAGE_3 = (
    f"{BASE}?_getpages=8f0b7c1e-2d2a-4b4e&_getpagesoffset=4&_count=2"
    "&_pretty=true&_bundletype=searchset"
)


def hapi_three_pages() -> None:
    responses.get(FIRST, json=searchset(claim("k1"), claim("k2"), next_url=HAPI_PAGE_2))
    responses.get(HAPI_PAGE_2, json=searchset(claim("k3"), claim("k4"), next_url=HAPI_PAGE_3))
    responses.get(HAPI_PAGE_3, json=searchset(claim("k5")))


def test_a_query_is_a_value_with_its_relative_url():
    query = Query.of("Condition", patient="Patient/a,Patient/b").where(_count=5)
    assert query.url() == "Condition?patient=Patient/a,Patient/b&_count=5"
    assert query.where(code="http://loinc.org|718-7").url().endswith("code=http://loinc.org%7C718-7")
    assert query.has("_count") and not query.has("code")
    assert Query("Patient").url() == "Patient"


@responses.activate
def test_hapi_getpages_links_are_followed_verbatim_across_three_pages():
    hapi_three_pages()
    client = make_client()

    found = [c["id"] for c in client.search("Claim", status="active", _count=2)]

    assert found == ["k1", "k2", "k3", "k4", "k5"]
    assert [call.request.url for call in responses.calls] == [FIRST, HAPI_PAGE_2, HAPI_PAGE_3]
    assert client.stats.by_type == {"Claim": 3}


@responses.activate
def test_pages_are_read_lazily():
    hapi_three_pages()

    pages = make_client().search("Claim", status="active", _count=2).pages()
    assert len(responses.calls) == 0
    first = next(pages)

    assert [e["resource"]["id"] for e in first["entry"]] == ["k1", "k2"]
    assert len(responses.calls) == 1


@responses.activate
def test_relative_next_links_resolve_against_the_base():
    responses.get(f"{BASE}/Claim?_count=100", json=searchset(claim("k1"), next_url="Claim?page=2"))
    responses.get(f"{BASE}/Claim?page=2", json=searchset(claim("k2"), next_url="?_getpages=x"))
    responses.get(f"{BASE}?_getpages=x", json=searchset(claim("k3")))

    assert [c["id"] for c in make_client().search("Claim")] == ["k1", "k2", "k3"]
    assert responses.calls[2].request.url == f"{BASE}?_getpages=x"


@pytest.mark.parametrize("status", [410, 404])
@responses.activate
def test_an_expired_page_restarts_the_search_and_passes_over_what_was_read(status):
    responses.get(FIRST, json=searchset(claim("k1"), claim("k2"), next_url=HAPI_PAGE_2))
    responses.get(HAPI_PAGE_2, status=status, json=outcome("Search 8f0b7c1e has expired"))
    responses.get(HAPI_PAGE_2, json=searchset(claim("k3")))

    found = [c["id"] for c in make_client().search("Claim", status="active", _count=2)]

    assert found == ["k1", "k2", "k3"]
    assert [c.request.url for c in responses.calls] == [FIRST, HAPI_PAGE_2, FIRST, HAPI_PAGE_2]


@responses.activate
def test_a_page_that_keeps_expiring_gives_up_with_page_expired():
    responses.get(FIRST, json=searchset(claim("k1"), next_url=HAPI_PAGE_2))
    responses.get(HAPI_PAGE_2, status=410, json=outcome("expired"))
    found = []

    with pytest.raises(PageExpiredError) as raised:
        for resource in make_client().search("Claim", status="active", _count=2):
            found.append(resource["id"])

    assert found == ["k1"]
    assert raised.value.status == 410
    assert len(responses.calls) == 6  # the first try and two restarts


@responses.activate
def test_404_on_the_first_page_is_an_error_not_an_expired_page():
    responses.get(f"{BASE}/Claim?_count=100", status=404, json=outcome("Unknown resource type"))

    with pytest.raises(FhirError) as raised:
        list(make_client().search("Claim"))
    assert not isinstance(raised.value, PageExpiredError)
    assert len(responses.calls) == 1


@responses.activate
def test_a_next_link_that_repeats_a_page_is_a_loop():
    page_2 = f"{BASE}/Claim?page=2"
    responses.get(f"{BASE}/Claim?_count=100", json=searchset(claim("k1"), next_url=page_2))
    responses.get(page_2, json=searchset(claim("k2"), next_url=page_2))

    with pytest.raises(FhirError, match="next link repeats a page already fetched"):
        list(make_client().search("Claim"))
    assert len(responses.calls) == 2


@responses.activate
def test_next_links_that_never_end_with_the_same_entries_are_stopped():
    responses.get(f"{BASE}/Claim?_count=100",
                  json=searchset(claim("k1"), claim("k2"), next_url=f"{BASE}/Claim?page=1"))
    for n in range(1, 50):
        responses.get(f"{BASE}/Claim?page={n}",
                      json=searchset(claim("k1"), claim("k2"), next_url=f"{BASE}/Claim?page={n+1}"))

    with pytest.raises(FhirError, match="only entries already read"):
        list(make_client().search("Claim"))
    assert len(responses.calls) == 2


@responses.activate
def test_a_next_link_to_another_server_is_not_followed():
    responses.get(
        f"{BASE}/Claim?_count=100",
        json=searchset(claim("k1"), next_url="http://internal-hapi:8080/fhir?_getpages=x"),
    )

    with pytest.raises(FhirError, match="next link leaves the server"):
        list(make_client().search("Claim"))
    assert len(responses.calls) == 1


@responses.activate
def test_search_yields_matches_and_includes_stay_available_on_the_page():
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": claim("k1"), "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "include"}},
            {"resource": claim("k2")},
            {"resource": {"resourceType": "Condition", "id": "c1"}},
            {"resource": outcome("too many includes"), "search": {"mode": "outcome"}},
        ],
    }
    responses.get(f"{BASE}/Claim?_include=Claim:patient&_count=100", json=bundle)
    search = make_client().search("Claim", _include="Claim:patient")

    matched = [c["id"] for c in search]
    page = next(search.pages())

    assert matched == ["k1", "k2"]
    assert [r["id"] for r in includes(page, "Claim")] == ["p1", "c1"]


@responses.activate
def test_an_outcome_or_another_type_marked_match_is_no_match():
    """A server that marks its OperationOutcome "match" (or any entry of another type): it was
    read as a claim ("skipped") and, in a note search, as a note ("note-missing")."""
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": claim("k1"), "search": {"mode": "match"}},
            {"resource": outcome("too costly"), "search": {"mode": "match"}},
            {"resource": {"resourceType": "Patient", "id": "p1"}, "search": {"mode": "match"}},
        ],
    }
    responses.get(f"{BASE}/Claim?_count=100", json=bundle)

    assert [c["id"] for c in make_client().search("Claim")] == ["k1"]


@responses.activate
def test_a_search_reads_at_most_max_pages_pages():
    for n in range(10):
        responses.get(f"{BASE}/Claim?page={n}",
                      json=searchset(claim(f"k{n}"), next_url=f"{BASE}/Claim?page={n + 1}"))
    responses.get(f"{BASE}/Claim?_count=100",
                  json=searchset(claim("first"), next_url=f"{BASE}/Claim?page=0"))
    found = []

    with pytest.raises(FhirError, match=r"stopped after 4 pages.*--max-pages"):
        for resource in make_client(max_pages=4).search("Claim"):
            found.append(resource["id"])

    assert found == ["first", "k0", "k1", "k2"]
    assert len(responses.calls) == 4


def _with_total(bundle: dict, total: int) -> dict:
    return {**bundle, "total": total}


@responses.activate
def test_a_total_above_what_was_read_without_a_next_link_fails_the_search_after_its_pages(
        caplog):
    responses.get(f"{BASE}/Claim?status=active&_count=100",
                  json=_with_total(searchset(claim("k1"), claim("k2")), 500))
    found = []

    with pytest.raises(FhirError) as raised:
        for resource in make_client().search("Claim", status="active"):
            found.append(resource["id"])

    assert found == ["k1", "k2"]  # everything that came was yielded first
    assert str(raised.value) == (
        f"GET {BASE}/Claim?status=active&_count=100: the server's total says 500 matches, 2 "
        "were read and there is no next link: results are missing")
    assert "search Claim: the server's total says 500" in caplog.text


@pytest.mark.parametrize("total", [2, 1, None])
@responses.activate
def test_a_total_met_or_absent_is_no_error(total):
    bundle = searchset(claim("k1"), claim("k2"))
    bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "p1"},
                            "search": {"mode": "include"}})  # not counted: total is matches
    responses.get(f"{BASE}/Claim?_count=100",
                  json=bundle if total is None else _with_total(bundle, total))
    assert [c["id"] for c in make_client().search("Claim")] == ["k1", "k2"]


@responses.activate
def test_entries_repeated_across_pages_do_not_count_twice_toward_the_total():
    page_2 = f"{BASE}/Claim?page=2"
    responses.get(f"{BASE}/Claim?_count=100",
                  json=_with_total(searchset(claim("k1"), claim("k2"), next_url=page_2), 3))
    # a claim inserted ahead of the offset between the pages: k2 comes again, k0 never
    responses.get(page_2, json=_with_total(searchset(claim("k2"), claim("k3")), 4))

    with pytest.raises(FhirError, match="total says 4 matches, 3 were read"):
        list(make_client().search("Claim"))
