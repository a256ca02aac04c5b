"""The readable table for people: one block per claim, findings indented, summary last."""

from __future__ import annotations

from adapter.output.report import Report

_MARK = {"supported": "ok", "review": "REVIEW", "unsupported": "UNSUPPORTED"}


def render_table(report: Report, width: int = 100) -> str:
    lines = [f"{'CLAIM':<22} {'PATIENT':<18} {'SERVICE':<10}  VERDICT", "-" * width]
    for result in report.claims:
        lines.append(
            f"{result.claim:<22} {result.patient:<18} {result.service_date.isoformat():<10}  "
            f"{_MARK[result.verdict.value]}"
        )
        for f in result.findings:
            dx = f" [{f.diagnosis}]" if f.diagnosis else ""
            hint = f" -> suggest {f.suggested_code}" if f.suggested_code else ""
            lines.append(f"    {f.severity.value:<8} {f.code}{dx}{hint}")
            lines.append(f"             {f.message}")
            if f.evidence:
                used = ", ".join(f"{ref} ({f.path_of(ref)})" for ref in f.evidence)
                lines.append(f"             evidence: {used}")
    if report.skipped:
        lines += ["", "Skipped:"]
        lines += [f"    {s.claim:<22} {s.reason}" for s in report.skipped]
    if report.errors:
        lines += ["", "Errors:"]
        lines += [f"    {p.resource:<22} {p.message}" for p in report.errors]
    summary = report.summary()
    lines += ["", "Summary: " + ", ".join(f"{k} {v}" for k, v in summary.items())]
    return "\n".join(lines)
