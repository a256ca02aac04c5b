"""The payer's policy (SPEC 4.4): which policy applies to a claim, whether it covers the
claim's diagnoses, and whether the injection comes sooner than the policy's schedule allows.

Which policy: the claim's insurer, then its focal Coverage's payors, matched against the
configuration by identifier (``system|value``, then the bare value) or name (whatever its
case); else the configured default; else none, and no finding here. A policy applies only on
the dates it is in effect.

Codes: dx-not-covered, frequency-exceeds-policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from adapter.evidence.facts import ClaimEvidence
from adapter.findings import Finding
from adapter.payer_policies import PayerPolicy, Schedule
from adapter.rules import status
from adapter.rules.policy import Policy
from adapter.rules.premedication import premedicated


def applicable(ev: ClaimEvidence, policy: Policy) -> PayerPolicy | None:
    """The payer policy the claim is judged by, or None."""
    payers = policy.payers
    if not payers.active:
        return None
    found = None
    for party in ev.payers:
        if (found := payers.lookup(party.keys, party.names)) is not None:
            break
    found = found or payers.fallback
    if found is None or not found.in_effect(ev.claim.service_date):
        return None
    return found


def dx_not_covered(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """No claim diagnosis is covered by the policy, or a code the policy covers only beside a
    second one has none of its partners on the claim (one finding per such code)."""
    payer = applicable(ev, policy)
    if payer is None or not (payer.restricts_codes or payer.dual_diagnosis):
        return  # no policy, or one that limits frequency only
    if premedicated(ev, policy):
        return  # B12 before pemetrexed or pralatrexate: covered whatever the diagnosis
    codes = list(dict.fromkeys(dx.code for dx in ev.claim.diagnoses if dx.code))
    covered = not payer.restricts_codes  # no covered list: every indication is covered
    lonely = False
    for code in codes:
        partners = payer.partners(code)
        if partners is None:
            covered = covered or payer.lists(code)
            continue
        if any(payer.partners_present(partners, other) for other in codes if other != code):
            covered = True
            continue
        lonely = True
        yield Finding("dx-not-covered",
                      f"{payer.name} covers {code} only beside one of "
                      f"{', '.join(partners)}, and the claim codes none "
                      f"(policy {payer.cited})", diagnosis=code)
    if covered or lonely:
        return
    listed = ", ".join(codes) if codes else "no usable diagnosis"
    yield Finding("dx-not-covered",
                  f"No claim diagnosis ({listed}) is covered by {payer.name} "
                  f"(policy {payer.cited})", diagnosis=codes[0] if codes else None)


def injection_days(ev: ClaimEvidence) -> list[date]:
    """Every day the patient got or was billed a B12 injection, each once: completed
    injectable administrations, the other claims' B12 dates and this claim's own."""
    given = {a.fact.day for a in ev.administrations if a.fact.day and status.given(a.fact)}
    return sorted(given | {day for _, day in ev.billed} | set(ev.claim.b12_dates))


def _place(days: list[date], day: date, schedule: Schedule) -> tuple[int, date]:
    """Where ``day`` falls in its course: (its index, the course's first day). ``days``
    holds ``day``, ascending."""
    index, start, previous = 0, days[0], days[0]
    for current in days[1:]:
        if current > day:
            break
        if (current - previous).days > schedule.course_gap_days:
            index, start = 0, current
        else:
            index += 1
        previous = current
    return index, start


def frequency_exceeds_policy(ev: ClaimEvidence, policy: Policy) -> Iterator[Finding]:
    """A B12 date sooner after the injection before it than its phase of the course allows,
    on a day whose note states no acute or loading phase."""
    payer = applicable(ev, policy)
    if payer is None or payer.schedule is None:
        return
    schedule = payer.schedule
    days = injection_days(ev)
    for day in ev.claim.b12_dates:
        index, start = _place(days, day, schedule)
        wanted = schedule.min_interval(index)
        if wanted is None:
            continue
        previous = max(d for d in days if d < day)
        gap = (day - previous).days
        if gap >= wanted or day in ev.loading_stated:
            continue
        evidence = tuple(sorted({*(a.fact.ref for a in ev.administrations
                                   if a.fact.day in (previous, day) and status.given(a.fact)),
                                 *(claim for claim, billed in ev.billed if billed == previous)}))
        yield Finding(
            "frequency-exceeds-policy",
            f"B12 on {day.isoformat()} comes {gap} day{'s' if gap != 1 else ''} after the "
            f"injection on {previous.isoformat()}: it is injection {index + 1} of the course "
            f"begun {start.isoformat()}, and {payer.name} allows one every {wanted} days or "
            f"more at that point, unless the day's note states a loading or acute phase "
            f"(policy {payer.cited})",
            evidence=evidence, day=day)
