"""What a note says: its read sections (medspaCy's sectionizer), the terms of the notes table
in them (medspaCy's target matcher) and each one's context (medspaCy's ConText: negated,
historical, uncertain, family, hypothetical).

The pipeline is built once per process and only when a note needs reading: importing spaCy
costs about two seconds, which a run without notes never pays (``tests/test_startup.py``).
Sentences are split by spaCy's rule ``sentencizer`` (full stops, and line ends: a note's lines
are its statements, but a line that goes on with a lower-case word, or a term broken over two
lines, is one wrapped statement: ``normalised``) instead of medspaCy's default PyRuSH, which
costs eight times as much and logs at DEBUG. A note whose text holds no term of the table is
not given to the pipeline at all (``NoteTable.may_mention``).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adapter.evidence.facts import Mention
from adapter.notes.terms import NoteTable, note_table

QUOTE_LIMIT = 200  # characters of a quoted sentence, the mention marks included
# ConText compares every modifier of a doc with every other and with every mention, and the
# target matcher sets the doc's entities once a match: a section is read in pieces of whole
# sentences of about this many characters, so a long one costs in proportion to its length
PIECE_CHARS = 1_000
_SPACES = re.compile(r"\s+")
_BLANK = re.compile(r"[^\S\n]+")  # tabs, no-break and every other Unicode space: one space
_LINE_ENDS = str.maketrans({"\r": "\n", "\x85": "\n", "\u2028": "\n", "\v": "\n",
                            "\f": "\n\n", "\u2029": "\n\n"})
_LABEL = re.compile(r"[^\W\d_][\w /&+\-]{0,40}:")  # "plan:" starts a line of its own
_MARKS = re.compile(r"\[(?=\[)|\](?=\])")  # the quote's mention marks, written in a note
_ITEM = re.compile(r"[-*\u2022+]|\d+[.)]")  # a list's item starts a line of its own
# a line that ends on one of these words is cut short, not ended ("No evidence of" / "B12 ...")
_UNFINISHED = frozenset({"of", "for", "with", "without", "to", "and", "or", "no", "not", "the",
                         "an", "in", "by", "from", "than", "denies", "possible", "probable",
                         "suspected", "likely"})
_lock = threading.Lock()


@dataclass
class Pipeline:
    nlp: Any  # spacy.Language: sentencizer, target matcher, ConText
    sectionizer: Any  # medspaCy's Sectionizer, run on the tokens alone first
    table: NoteTable


_pipeline: Pipeline | None = None


def loaded() -> bool:
    """Whether this process has built the pipeline (tests, and worker processes)."""
    return _pipeline is not None


def pipeline() -> Pipeline:
    """The NLP pipeline of this process, built on first use."""
    global _pipeline
    if _pipeline is None:
        with _lock:
            if _pipeline is None:
                _pipeline = _build(note_table())
    return _pipeline


def _words(nlp: Any, literal: str) -> list[dict[str, Any]]:
    return [{"LOWER": token.text.lower()} for token in nlp.make_doc(literal)]


def _heading_patterns(nlp: Any, heading: str) -> list[list[dict[str, Any]]]:
    """``# Heading``, ``## Heading``, ``HEADING:`` and ``Heading`` alone on its line (an HTML
    table's cell) at the start of a line (a line that only starts with the word, "History of
    ...", is no heading)."""
    words = _words(nlp, heading)
    return [[{"TEXT": {"REGEX": r"^#+$"}, "OP": "+"}, *words, {"TEXT": ":", "OP": "?"}],
            [*words, {"TEXT": ":"}],
            [*words, {"TEXT": {"IN": ["\n", "\n\n"]}}]]


def _build(table: NoteTable) -> Pipeline:
    import spacy
    from medspacy.context import ConText, ConTextRule
    from medspacy.section_detection import Sectionizer, SectionRule
    from medspacy.target_matcher import TargetMatcher, TargetRule
    from spacy.language import Language

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer", config={
        "punct_chars": [".", "!", "?", ";", "\n", "\n\n"]})
    if not Language.has_factory("b12_query_marks"):
        Language.component("b12_query_marks", func=query_marks)
    nlp.add_pipe("b12_query_marks", after="sentencizer")
    if not Language.has_factory("b12_labelled_lists"):
        Language.component("b12_labelled_lists", func=labelled_lists)
    nlp.add_pipe("b12_labelled_lists", after="b12_query_marks")
    matcher: TargetMatcher = nlp.add_pipe("medspacy_target_matcher")
    matcher.add([TargetRule(term, code) for term, code in table.terms.items()])
    # a modifier inside a term is the term's own word ("b12 deficiency without anemia")
    context: ConText = nlp.add_pipe("medspacy_context", config={
        "rules": None, "prune_on_target_overlap": True})
    replaced = {r.literal for r in table.context if r.replaces}
    rules = [r for r in ConTextRule.from_json(context.DEFAULT_RULES_FILEPATH)
             if r.literal not in replaced]
    # named apart from medspaCy's own rules of the same words (a rule "ruled out" that
    # looks forward is among them: "B12 deficiency ruled out" needs one that looks back)
    rules += [ConTextRule(f"{r.literal} ({r.direction.lower()}, notes.json)", r.category,
                          pattern=list(r.pattern) or _words(nlp, r.literal),
                          direction=r.direction,
                          allowed_types=set(r.targets) or None)
              for r in table.context]
    for rule in rules:
        if rule.direction in ("FORWARD", "BIDIRECTIONAL"):
            rule.on_modifies = _along_the_list
    context.add(rules)
    sectionizer = Sectionizer(nlp, rules=None, require_start_line=True, input_span_type=None,
                              span_attrs=None)
    kinds = [(heading, category) for category, headings in table.read_headings.items()
             for heading in headings]
    kinds += [(heading, "other") for heading in table.other_headings]
    kinds += [(heading, "family") for heading in table.family_headings]
    rules = [SectionRule(literal=f"{heading} ({n})", category=category, pattern=pattern)
             for heading, category in kinds
             for n, pattern in enumerate(_heading_patterns(nlp, heading))]
    sectionizer.add(rules)
    return Pipeline(nlp, sectionizer, table)


def query_marks(doc: Any) -> Any:
    """A "?" that opens a statement (at the start of its line, or written against the next
    word: "?B12 def", "fatigue, ?B12 deficiency") asks whether what follows is so: it starts
    the sentence of the words after it instead of ending one, and ConText reads it forward
    (notes.json). A "?" after a word ("B12 deficiency?") ends its sentence as before."""
    for token in doc[:-1]:
        after = doc[token.i + 1]
        if token.text != "?" or after.is_space or after.is_punct:
            continue
        before = doc[token.i - 1] if token.i else None
        if (before is None or before.is_space
                or (not token.whitespace_ and (before.whitespace_ or before.is_punct))):
            token.is_sent_start = True
            after.is_sent_start = False
    return doc


def labelled_lists(doc: Any, table: NoteTable | None = None) -> Any:
    """A line that is only a list label of the notes table and a colon ("Denies:") and the
    list items on the lines under it ("- fatigue", "2. weight loss") are one sentence: the
    label's negation reaches each item. Under any other label an item is its own statement."""
    labels = (table or note_table()).list_labels
    line: list[Any] = []
    under = False
    for token in doc:
        if token.text == "\n":
            words = " ".join(t.lower_ for t in line[:-1])
            under = (bool(line) and line[-1].text == ":" and words in labels) or (
                under and _ITEM.match("".join(t.text for t in line[:2])) is not None)
            line = []
            continue
        if token.text == "\n\n":
            line, under = [], False
            continue
        if not line and under and _ITEM.match(doc[token.i:token.i + 2].text):
            for after in doc[token.i:token.i + 3]:  # "-" / "1" "." and the item's first word
                if not after.is_space:
                    after.is_sent_start = False
        line.append(token)
    return doc


_CONJUNCTIONS = frozenset({"or", "and", "nor", "/", "&"})


def _along_the_list(target: Any, modifier: Any, between: Any) -> bool:
    """A modifier that looks forward reaches past a comma only along a list: "no anemia,
    neuropathy or fatigue" negates all three, "denies tingling, B12 deficiency stable on
    injections" does not negate the deficiency (a term is in the list when a conjunction stands
    between the last comma and it, or a comma or conjunction follows it). A list may end
    without one ("denies fever, chills, weight loss"): a term that ends the sentence is in it
    when it is of the kind of the terms before it, a symptom after symptoms or none, a
    diagnosis after a diagnosis ("no pernicious anemia, celiac disease"; "no fatigue, B12
    deficiency" states the deficiency)."""
    if modifier.start >= target.end:
        return True
    commas = [token.i for token in between if token.text == ","]
    if not commas:
        return True
    doc = target.doc
    if any(token.lower_ in _CONJUNCTIONS for token in doc[commas[-1] + 1:target.start]):
        return True
    if target.end < min(len(doc), target.sent.end):
        follower = doc[target.end]
        if follower.text == "," or follower.lower_ in _CONJUNCTIONS:
            return True
        if not follower.is_sent_end:  # the full stop or line end that ends it
            return False
    symptom = target.label_ == "symptom"
    kinds = {ent.label_ == "symptom" for ent in doc.ents
             if modifier.end <= ent.start and ent.end <= commas[-1]}
    return kinds == {symptom} or (symptom and not kinds)


def normalised(text: str, table: NoteTable | None = None) -> str:
    """The text the pipeline reads. Every blank space (tabs, no-break spaces) is one space;
    line ends are ``\\n`` with no blank space around them (each one token, which the
    sentencizer splits on), runs of blank lines one blank line. A line that goes on with a
    lower-case word (a note hard-wrapped at 60 columns), into which a term runs on from the
    line before ("Vitamin B12" / "deficiency"), or after a line cut short on a word such as
    "of" or "possible" ("No evidence of" / "B12 deficiency"; not into a list's item), joins it
    with a space, unless it starts with a label ("plan:") or the line before ends one. ``[[``
    and ``]]`` in the note are spaced apart: they mark the mention in a quote."""
    table = table or note_table()
    text = _BLANK.sub(" ", text.replace("\r\n", "\n").translate(_LINE_ENDS))
    paragraphs: list[str] = []
    lines: list[str] = []
    for line in [*(raw.strip() for raw in text.split("\n")), ""]:
        if not line:
            if lines:
                paragraphs.append("".join(lines))
                lines = []
            continue
        if lines and _goes_on(lines[-1], line, table):
            lines.append(" " + line)
        elif lines:
            lines.append("\n" + line)
        else:
            lines.append(line)
    return _MARKS.sub(lambda m: m.group() + " ", "\n\n".join(paragraphs))


def _goes_on(before: str, line: str, table: NoteTable) -> bool:
    if (before.endswith(":") or _LABEL.match(line)
            or before.lstrip("#").strip().lower() in table.headings):
        return False
    if line[0].islower() or table.spans(before[-80:], line[:80]):
        return True
    return before.rsplit(" ", 1)[-1].lower() in _UNFINISHED and not _ITEM.match(line)


def read_sections(text: str, table: NoteTable | None = None) -> list[tuple[str, str]]:
    """(section kind, text) of the sections read: those under an assessment, impression,
    diagnosis or plan heading; the whole note ("") when it has none. The raw-text prefilter
    runs first: a note with no term of the table is not tokenised."""
    table = table or note_table()
    if not table.may_mention(text):
        return []
    p = pipeline()
    doc = p.sectionizer(p.nlp.make_doc(normalised(text, table)))
    read = [(s.category, doc[s.body_start:s.body_end].text) for s in doc._.sections
            if s.category in table.read_headings]
    if not read:  # the whole note, but a family history: a relative's diagnoses
        family = [s for s in doc._.sections if s.category == "family"]
        if not family:
            return [("", doc.text)]
        whole = "\n\n".join(doc[s.title_start if s.category != "family"
                                  else _family_end(doc, s):s.body_end].text
                              for s in doc._.sections)
        return [("", whole.strip())] if table.may_mention(whole) else []
    return [(kind, body) for kind, body in read if table.may_mention(body)]


def _family_end(doc: Any, section: Any) -> int:
    """Where a family history ends when no heading ends it: at its heading's line end when
    the line goes on after the heading ("FH: mother with pernicious anemia"), else at a blank
    line (its lines under a heading alone on its line). What follows is the note's again."""
    alone = doc[section.title_end - 1].text.startswith("\n") or (
        section.body_start < section.body_end and doc[section.body_start].text.startswith("\n"))
    for token in doc[section.body_start:section.body_end]:
        if token.text == "\n\n" or (token.text == "\n" and not alone):
            return token.i
    return section.body_end


def read_mentions(text: str) -> tuple[Mention, ...]:
    """The terms a note's read sections hold, each with its context and sentence."""
    sections = read_sections(text)
    if not sections:
        return ()
    p = pipeline()
    mentions = []
    for kind, body in sections:
        for doc in _read_in_pieces(p.nlp, body.strip()):
            for ent in doc.ents:
                context = context_of(ent)
                if context == "historical" and ent.label_ in p.table.history_is_current:
                    context = "affirmed"  # "history of gastric bypass": a status today
                mentions.append(Mention(code=ent.label_, term=ent.text, context=context,
                                        sentence=quote(ent), section=kind))
    return tuple(mentions)


def _read_in_pieces(nlp: Any, text: str) -> Iterator[Any]:
    """``text`` split into sentences once, then each piece of whole sentences (about
    ``PIECE_CHARS``) read by the pipeline: ConText's scope ends at a sentence's end, so a
    mention reads as it would in the whole text. A sentence longer than a piece (no note
    writes one) is cut between words. (A piece is read from its text: ``Span.as_doc`` copies
    the whole doc's arrays each time.)"""
    doc = labelled_lists(query_marks(nlp.get_pipe("sentencizer")(nlp.make_doc(text))))
    start = 0
    for sent in doc.sents:
        if sent.start > start and sent.end_char - doc[start].idx > PIECE_CHARS:
            yield _piece(nlp, doc[start:sent.start])
            start = sent.start
        if sent.end_char - sent.start_char > PIECE_CHARS:
            for token in sent:
                if token.i > start and token.idx + len(token) - doc[start].idx > PIECE_CHARS:
                    yield _piece(nlp, doc[start:token.i])
                    start = token.i
    if start < len(doc):
        yield _piece(nlp, doc[start:])


def _piece(nlp: Any, span: Any) -> Any:
    with warnings.catch_warnings():
        # W036: the target matcher's token matcher has no patterns (its phrases do)
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        return nlp(span.text)


def context_of(ent: Any) -> str:
    """One context per mention, the one that most limits what it says."""
    if ent._.is_family:
        return "family"
    if ent._.is_negated:
        return "negated"
    if ent._.is_uncertain:
        return "uncertain"
    if ent._.is_hypothetical:
        return "hypothetical"
    if ent._.is_historical:
        return "historical"
    return "affirmed"


def quote(ent: Any, limit: int = QUOTE_LIMIT) -> str:
    """The mention's sentence on one line, the mention marked ``[[...]]``, cut to ``limit``
    characters around the mention."""
    sent = ent.sent
    said = sent.text  # the sentence's own, not the doc's text: built anew at each call
    before = _SPACES.sub(" ", said[:ent.start_char - sent.start_char]).lstrip()
    after = _SPACES.sub(" ", said[ent.end_char - sent.start_char:]).rstrip()
    marked = f"[[{_SPACES.sub(' ', ent.text)}]]"
    room = limit - len(marked)
    if room <= 0:
        return marked[: limit - 3] + "]]" if len(marked) > limit else marked
    if len(before) + len(after) > room:
        keep_before = min(len(before), max(room // 2, room - len(after)))
        keep_after = room - keep_before
        if keep_before < len(before):
            before = "…" + before[len(before) - keep_before + 1:]
        if keep_after < len(after):
            after = after[: max(0, keep_after - 1)] + "…"
    return (before + marked + after).strip()
