"""The audit's charts, drawn with matplotlib as inline SVG for a page that opens offline.

matplotlib's SVG backend needs no display and no network, writes text as ``<text>`` (the
``svg.fonttype: none`` setting: crisp on screen and in print, searchable, small), and with a
fixed hash salt and no date it draws the same bytes for the same numbers. Colours are the
Okabe-Ito palette (distinguishable with colour-blindness); every bar also carries its count,
so a chart printed in black and white still reads.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Sequence
from html import escape

from matplotlib import rc_context
from matplotlib.figure import Figure

from adapter.findings import FINDING_KINDS, Verdict
from adapter.output.audit.collect import VERDICTS, Party, Tally

VERDICT_COLOURS = {Verdict.UNSUPPORTED: "#D55E00", Verdict.REVIEW: "#E69F00",
                   Verdict.SUPPORTED: "#009E73"}
SEVERITY_COLOURS = {"high": "#D55E00", "moderate": "#E69F00", "low": "#56B4E9"}
TEXT = "#222222"
GRID = "#DDDDDD"
WIDTH = 6.4  # inches: two charts side by side on a 1280 px page, one per row in print
MAX_BARS = 12
STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "b12-audit",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "axes.edgecolor": GRID,
    "axes.labelcolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.titleweight": "bold",
    "axes.titlesize": 10,
    "axes.titlelocation": "left",
    # Labels are names from the source: "Suite $^$" is text, not TeX math to parse.
    "text.parse_math": False,
}
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
# Bidirectional embeddings, overrides and isolates: in a label they would reverse the text
# drawn after them (a name ending in U+202E turns the chart's words around).
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def verdict_mix(total: Tally) -> str:
    """Claims by verdict: one bar each, worst first, with count and share."""
    labels = [v.value for v in VERDICTS]
    counts = [total.verdicts[v] for v in VERDICTS]
    notes = [f"{n} ({total.share(v):.0%})" for n, v in zip(counts, VERDICTS, strict=True)]
    return _hbars(labels, counts, [VERDICT_COLOURS[v] for v in VERDICTS], notes,
                  label="Claims by verdict: " + ", ".join(
                      f"{lab} {n}" for lab, n in zip(labels, counts, strict=True)))


def findings_by_code(total: Tally) -> str:
    """Claims with each finding code, most frequent first, coloured by severity."""
    items = total.findings.most_common()
    codes = [code for code, _ in items]
    colours = [SEVERITY_COLOURS[FINDING_KINDS[c].severity.value] for c in codes]
    return _hbars(codes, [n for _, n in items], colours,
                  [str(n) for _, n in items], legend=SEVERITY_COLOURS,
                  label="Claims with each finding: " + ", ".join(f"{c} {n}" for c, n in items))


def trend(months: Sequence[tuple[str, Tally]]) -> str:
    """Claims per month of service, stacked by verdict."""
    label = "Claims by month and verdict: " + "; ".join(
        f"{m}: " + ", ".join(f"{v.value} {t.verdicts[v]}" for v in VERDICTS) for m, t in months)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH * 2, 2.6))
        ax = fig.subplots()
        _frame(ax)
        if not months:
            return _empty(fig, ax, label)
        names = [m for m, _ in months]
        bottom = [0] * len(months)
        for verdict in reversed(VERDICTS):  # supported at the bottom, unsupported on top
            counts = [t.verdicts[verdict] for _, t in months]
            ax.bar(names, counts, bottom=bottom, color=VERDICT_COLOURS[verdict],
                   label=verdict.value, width=0.6)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        for x, (total, (_, t)) in enumerate(zip(bottom, months, strict=True)):
            ax.annotate(f"{total} ({t.share(Verdict.UNSUPPORTED):.0%} unsupported)",
                        (x, total), ha="center", va="bottom", xytext=(0, 2),
                        textcoords="offset points", color=TEXT)
        ax.set_ylim(0, max(bottom) * 1.2 or 1)
        ax.set_ylabel("claims")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        handles, names_ = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names_[::-1], frameon=False, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
        return _svg(fig, label)


def by_party(parties: Sequence[tuple[Party, Tally]]) -> str:
    """Claims per provider (or facility), stacked by verdict, worst first; the first
    ``MAX_BARS`` only. One bar for each party, even when two share a name (their labels
    then carry their references)."""
    shown = list(parties[:MAX_BARS])
    label = "Claims by verdict: " + "; ".join(
        f"{plain(who.label)}: " + ", ".join(f"{v.value} {t.verdicts[v]}" for v in VERDICTS)
        for who, t in shown)
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.9 + 0.32 * max(len(shown), 1)))
        ax = fig.subplots()
        _frame(ax)
        if not shown:
            return _empty(fig, ax, label)
        ys = list(range(len(shown)))[::-1]  # by position: equal names are still two bars
        left = [0] * len(shown)
        for verdict in VERDICTS:
            counts = [t.verdicts[verdict] for _, t in shown]
            ax.barh(ys, counts, left=left, color=VERDICT_COLOURS[verdict],
                    label=verdict.value, height=0.6)
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.set_yticks(ys, party_labels([who for who, _ in shown]))
        for y, total, (_, t) in zip(ys, left, shown, strict=True):
            ax.annotate(f"{total} ({t.flagged} to fix)", (total, y), va="center",
                        xytext=(3, 0), textcoords="offset points", color=TEXT)
        ax.set_xlim(0, max(left) * 1.3 or 1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.legend(frameon=False, loc="lower left", ncols=3, bbox_to_anchor=(0.0, 1.0))
        return _svg(fig, label)


def party_labels(parties: Sequence[Party]) -> list[str]:
    """Each party's name as a bar's label: bidi controls dropped, shortened; where two
    labels would read the same, each of those carries its reference."""
    short = [_short(plain(who.label)) for who in parties]
    seen = Counter(short)
    return [f"{_short(plain(who.label), 20)} ({who.ref or 'no reference'})"
            if seen[text] > 1 else text for who, text in zip(parties, short, strict=True)]


def _hbars(names: list[str], counts: list[int], colours: list[str],
           notes: list[str], *, label: str, legend: dict[str, str] | None = None) -> str:
    with rc_context(STYLE):
        fig = Figure(figsize=(WIDTH, 0.9 + 0.28 * max(len(names), 1)))
        ax = fig.subplots()
        _frame(ax)
        if not names or not any(counts):
            return _empty(fig, ax, label)
        ys = list(range(len(names)))[::-1]
        ax.barh(ys, counts, color=colours, height=0.65)
        ax.set_yticks(ys, names)
        for y, n, note in zip(ys, counts, notes, strict=True):
            ax.annotate(note, (n, y), va="center", xytext=(3, 0), textcoords="offset points",
                        color=TEXT)
        ax.set_xlim(0, max(counts) * 1.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        if legend:
            from matplotlib.patches import Patch

            ax.legend([Patch(color=c) for c in legend.values()], list(legend), frameon=False,
                      loc="lower left", ncols=len(legend), bbox_to_anchor=(0.0, 1.0))
        return _svg(fig, label)


def _frame(ax) -> None:  # type: ignore[no-untyped-def]
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _empty(fig: Figure, ax, label: str) -> str:  # type: ignore[no-untyped-def]
    ax.set_axis_off()
    ax.text(0.5, 0.4, "No claims in the period", ha="center", va="center", color=TEXT,
            transform=ax.transAxes)
    return _svg(fig, label)


def plain(label: str) -> str:
    """``label`` without bidi controls."""
    return _BIDI.sub("", label)


def _short(label: str, width: int = 34) -> str:
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def _svg(fig: Figure, label: str) -> str:
    """The figure as an ``<svg>`` element for inline use: no XML prologue, a role and a text
    alternative (the numbers, for screen readers and for a page read as text)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = _PROLOGUE.sub("", buffer.getvalue(), count=1)
    return svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{escape(label)}" ',
                       1)
