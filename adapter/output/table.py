"""The readable table for people: the claims that need work first (unsupported, then review),
then supported claims that carry a low finding, each with its findings; clean supported claims
as a count unless asked for; what to do next last. What it prints from the input is escaped
(``adapter.output.terminal``)."""

from __future__ import annotations

from collections import Counter

from adapter.findings import Verdict
from adapter.output.report import Report
from adapter.output.terminal import shown

_ORDER = {Verdict.UNSUPPORTED: 0, Verdict.REVIEW: 1, Verdict.SUPPORTED: 2}
_SKIPS_LISTED = 20  # more skipped claims than this are counted by reason (a real export
# skips nearly every claim: thousands of lines saying "no B12 injection item")


def render_table(report: Report, width: int = 100, *, every_claim: bool = False) -> str:
    """``every_claim``: list the clean supported claims too, and every skipped claim (else
    only their count, and skipped claims by reason when there are many)."""
    lines = [f"{'CLAIM':<22} {'PATIENT':<18} {'SERVICE':<10}  VERDICT", "-" * width]
    ordered = sorted(report.claims, key=lambda r: _ORDER[r.verdict])  # stable: source order
    hidden = 0
    for result in ordered:
        if result.verdict is Verdict.SUPPORTED and not result.findings and not every_claim:
            hidden += 1
            continue
        lines.append(
            f"{result.claim:<22} {result.patient:<18} {result.service_date.isoformat():<10}  "
            f"{result.verdict.value}"
        )
        for f in result.findings:
            dx = f" [{f.diagnosis}]" if f.diagnosis else ""
            hint = f" -> suggest {f.suggested_code}" if f.suggested_code else ""
            lines.append(f"    {f.severity.value:<8} {f.code}{dx}{hint}")
            lines.append(f"             {f.message}")
            if f.quote:  # a note finding's sentence (SPEC 4.2)
                lines.append(f"             note says: \u201c{f.quote}\u201d")
            if f.evidence:
                used = ", ".join(f"{ref} ({f.path_of(ref)})" for ref in f.evidence)
                lines.append(f"             evidence: {used}")
    if hidden:
        lines.append(f"... and {hidden} supported claim(s) with no finding (--all lists them)")
    if report.skipped:
        lines += ["", "Skipped:"]
        if every_claim or len(report.skipped) <= _SKIPS_LISTED:
            lines += [f"    {s.claim:<22} {s.reason}" for s in report.skipped]
        else:
            reasons = Counter(s.reason for s in report.skipped)
            lines += [f"    {n} claims: {reason}" for reason, n in reasons.most_common()]
            lines.append("    (--all lists each claim, as --format json does)")
    if report.errors:
        lines += ["", "Errors:"]
        lines += [f"    {p.resource:<22} {p.message}" for p in report.errors]
    summary = report.summary()
    lines += ["", "Summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()),
              _next_steps(summary)]
    return "\n".join(shown(line) for line in lines)  # each line's data: never a forged line


def _next_steps(summary: dict[str, int]) -> str:
    if summary.get("unsupported") or summary.get("review"):
        return ("Next: fix the unsupported claims first (each finding says what to change); "
                "`b12-adapter audit` draws the coder's page, `--format json` gives the report "
                "for programs.")
    if summary.get("checked"):
        return "Next: every claim checked is supported; `--format json` gives the report."
    if summary.get("skipped") or summary.get("errors"):
        return "Next: no B12 claim was checked; see the skipped claims and errors above."
    return ("Next: no claim was found (no Claim or ExplanationOfBenefit): point --source at "
            "the export or server that holds the claims.")
