"""The rules are pure: judging a claim changes none of the evidence it was judged on.

Facts are immutable by type only (``adapter.values``: a frozen dataclass costs a tenth of a
bulk run), and one fact serves every claim of its patient, so a rule that changed one would
change the next claim's verdict. Checked over the demo, where every rule fires.
"""

from __future__ import annotations

import copy
from pathlib import Path

from adapter.driver import Driver, Sink
from adapter.mappings import load_mappings
from adapter.outcomes import ClaimOutcome, PageOutcome
from adapter.rules import Policy, check, check_each
from adapter.sources.files import FileSource
from fixtures import make_demo

DEMO = Path(make_demo.__file__).resolve().parent / "demo"


class KeepEvidence(Sink):
    evidence = True

    def __init__(self) -> None:
        self.outcomes: list[ClaimOutcome] = []

    def write(self, page: PageOutcome) -> None:
        self.outcomes += [o for o in page.claims if o.evidence is not None]


def test_judging_a_claim_changes_none_of_its_evidence() -> None:
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    sink = KeepEvidence()
    Driver(FileSource.open(DEMO), policy, mappings, [sink]).run()
    assert len(sink.outcomes) > 20

    for outcome in sink.outcomes:
        evidence = outcome.evidence
        assert evidence is not None and outcome.result is not None
        before = copy.deepcopy(evidence)
        findings = check(evidence, policy)
        assert evidence == before, outcome.claim
        assert [f.code for f in findings] == [f.code for f in outcome.result.findings]


def test_a_page_judged_rule_by_rule_gives_each_claim_its_own_findings() -> None:
    """``check_each`` runs each rule over a whole page (faster); each claim's findings must be
    those it gets judged alone, in the same order, whatever the other claims on the page."""
    mappings = load_mappings()
    policy = Policy.from_mappings(mappings, mappings.thresholds)
    sink = KeepEvidence()
    Driver(FileSource.open(DEMO), policy, mappings, [sink]).run()
    evidence = [o.evidence for o in sink.outcomes if o.evidence is not None]
    assert len({f.code for ev in evidence for f in check(ev, policy)}) > 15  # most rules fire

    alone = [check(ev, policy) for ev in evidence]
    together = check_each([*evidence, *reversed(evidence)], policy)

    assert together == alone + alone[::-1]
