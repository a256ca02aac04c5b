"""The clinician's note beside the billed code (SPEC 4.2): note-missing, note-unreadable,
note-symptom-only, note-history-only, note-contradicts, note-uncertain, note-no-indication,
note-specificity-loss, dx-more-specific-than-note; and dx-text-only (SPEC 4.1). Each fires on
its case and stays silent on the case beside it. Notes are read by the real reader (medspaCy)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from adapter.evidence.facts import (
    ClaimEvidence,
    ConditionFact,
    DayNotes,
    NoteEvidence,
    NoteReading,
)
from adapter.findings import Finding
from adapter.notes.day import mentions_of
from adapter.rules import check
from tests.facts import DAY, PATIENT, backed, claim, condition, policy

NOTE_CODES = {"note-missing", "note-unreadable", "note-symptom-only", "note-history-only",
              "note-contradicts", "note-uncertain", "note-no-indication",
              "note-specificity-loss", "dx-more-specific-than-note"}


def note(text: str, ref: str = "DocumentReference/n1", day: date = DAY) -> NoteReading:
    return NoteReading(ref, "Progress note", day, True, None, "text/plain", mentions_of(text))


def unreadable(ref: str = "DocumentReference/pdf", why: str = "is application/pdf, which "
               "is not read") -> NoteReading:
    return NoteReading(ref, "Progress note", DAY, False, why, "application/pdf")


def with_notes(ev: ClaimEvidence, *notes: NoteReading, held: bool = True) -> ClaimEvidence:
    days = tuple(DayNotes(day, tuple(n for n in notes if n.day == day))
                 for day in ev.claim.b12_dates) if held else ()
    return replace(ev, notes=NoteEvidence(held, days))


def judged(ev: ClaimEvidence, **settings) -> list[Finding]:
    return check(ev, replace(policy(), **settings))


def note_codes(ev: ClaimEvidence, **settings) -> set[str]:
    return {f.code for f in judged(ev, **settings)} & NOTE_CODES | (
        {"dx-text-only"} & {f.code for f in judged(ev, **settings)})


def finding(ev: ClaimEvidence, code: str, **settings) -> Finding:
    return next(f for f in judged(ev, **settings) if f.code == code)


def charted(*codes: str, text: str = "") -> ClaimEvidence:
    """A claim of ``codes`` on a chart that backs E53.8 and D51.9 (only the note varies)."""
    return backed(claim(*codes), condition("Condition/c1", {"E53.8"}),
                  condition("Condition/c2", {"D51.9"}))


# --- a statement: silent -------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "# Assessment and Plan\nVitamin B12 deficiency. Monthly cyanocobalamin injection given.",
    "ASSESSMENT: B12 deficiency, on monthly injections.\nPLAN: continue.",
    "A/P: B12 deficiency - continue B12 1000 mcg IM monthly",
])
def test_a_note_stating_the_claimed_diagnosis_earns_no_note_finding(text):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == set()


# --- note-missing ------------------------------------------------------------------------------


def test_note_missing_fires_when_the_source_holds_notes_but_none_that_day():
    ev = with_notes(charted("E53.8"), note("B12 deficiency.", day=date(2026, 2, 1)))
    found = finding(ev, "note-missing")
    assert found.day == DAY and "2026-03-02" in found.message


def test_note_missing_is_silent_for_a_patient_with_no_notes_at_all():
    assert note_codes(with_notes(charted("E53.8"), held=False)) == set()


def test_note_missing_fires_for_a_patient_with_no_notes_when_notes_are_required():
    ev = with_notes(charted("E53.8"), held=False)
    assert note_codes(ev, notes_required=True) == {"note-missing"}
    assert "no note for the patient at all" in finding(ev, "note-missing",
                                                      notes_required=True).message


def test_note_missing_judges_each_b12_date():
    facts = claim("E53.8")
    second = replace(facts.b12_items[0], sequence=2, service_date=date(2026, 3, 9))
    ev = backed(replace(facts, b12_items=(*facts.b12_items, second)),
                condition("Condition/c1", {"E53.8"}))
    found = [f for f in judged(with_notes(ev, note("B12 deficiency."))) if f.code in NOTE_CODES]
    assert [(f.code, f.day) for f in found] == [("note-missing", date(2026, 3, 9))]


# --- note-unreadable ---------------------------------------------------------------------------


def test_note_unreadable_names_the_note_and_its_type_and_no_word_finding_fires():
    ev = with_notes(charted("E53.8"), unreadable())
    found = finding(ev, "note-unreadable")
    assert "DocumentReference/pdf" in found.message and "application/pdf" in found.message
    assert note_codes(ev) == {"note-unreadable"}


def test_note_unreadable_beside_a_readable_note_judges_the_readable_one():
    ev = with_notes(charted("E53.8"), unreadable(), note("B12 shot for low energy."))
    assert note_codes(ev) == {"note-unreadable", "note-symptom-only"}


def test_a_readable_note_alone_is_not_unreadable():
    assert "note-unreadable" not in note_codes(with_notes(charted("E53.8"),
                                                          note("B12 deficiency.")))


# --- note-symptom-only -------------------------------------------------------------------------


def test_note_symptom_only_fires_on_a_b12_shot_for_low_energy():
    ev = with_notes(charted("E53.8"), note("# Assessment and Plan\nB12 shot for low energy."))
    assert note_codes(ev) == {"note-symptom-only"}
    found = finding(ev, "note-symptom-only")
    assert found.quote == "DocumentReference/n1: B12 shot for [[low energy]]."
    assert found.evidence == ("DocumentReference/n1",)


def test_note_symptom_only_is_silent_when_a_diagnosis_is_stated_beside_the_symptom():
    ev = with_notes(charted("E53.8"), note("Fatigue. Vitamin B12 deficiency, monthly shots."))
    assert note_codes(ev) == set()


def test_a_denied_symptom_is_no_reason_given():
    ev = with_notes(charted("E53.8"), note("Denies fatigue. Here for routine visit."))
    assert note_codes(ev) == {"note-no-indication"}


# --- note-history-only ---------------------------------------------------------------------------


def test_note_history_only_fires_on_history_of_b12_deficiency():
    ev = with_notes(charted("E53.8"), note("History of B12 deficiency. Injection given."))
    assert note_codes(ev) == {"note-history-only"}


def test_history_only_and_symptom_only_both_fire_on_the_source_documents_example():
    text = "History of B12 deficiency, resolved. B12 shot for low energy."
    assert note_codes(with_notes(charted("E53.8"), note(text))) == {
        "note-history-only", "note-symptom-only"}


def test_note_history_only_is_silent_when_a_current_mention_stands_beside_the_history():
    text = "H/o pernicious anemia. Current B12 deficiency, continue monthly B12."
    assert "note-history-only" not in note_codes(with_notes(charted("E53.8"), note(text)))


# --- note-contradicts ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["B12 deficiency ruled out.",
                                  "No evidence of B12 deficiency.",
                                  "Negative for vitamin B12 deficiency."])
def test_note_contradicts_fires_when_the_note_negates_the_claimed_diagnosis(text):
    ev = with_notes(charted("E53.8"), note(text))
    assert note_codes(ev) == {"note-contradicts"}
    assert finding(ev, "note-contradicts").severity.value == "high"


def test_no_evidence_of_pernicious_anemia_contradicts_a_d51_0_claim():
    ev = with_notes(charted("D51.0"), note("No evidence of pernicious anemia."))
    assert "note-contradicts" in note_codes(ev)


def test_negated_pernicious_anemia_does_not_contradict_a_b12_deficiency_claim():
    ev = with_notes(charted("E53.8"), note("B12 deficiency. No evidence of pernicious anemia."))
    assert note_codes(ev) == set()


# --- note-uncertain ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Possible B12 deficiency.", "r/o B12 deficiency",
                                  "Suspected B12 deficiency, labs pending.",
                                  "B12 deficiency?"])
def test_note_uncertain_fires_when_the_claimed_diagnosis_is_only_uncertain(text):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == {"note-uncertain"}


def test_note_uncertain_is_silent_when_the_diagnosis_is_also_stated():
    text = "Possible B12 deficiency last month; B12 deficiency confirmed by labs today."
    assert "note-uncertain" not in note_codes(with_notes(charted("E53.8"), note(text)))


# --- note-no-indication ----------------------------------------------------------------------


def test_note_no_indication_fires_when_the_note_never_gives_a_reason():
    ev = with_notes(charted("E53.8"), note("# Assessment and Plan\nWell visit. Injection given."))
    assert note_codes(ev) == {"note-no-indication"}


def test_a_family_members_diagnosis_is_no_reason():
    ev = with_notes(charted("E53.8"), note("Mother has pernicious anemia. Injection given."))
    assert note_codes(ev) == {"note-no-indication"}


def test_note_no_indication_is_silent_on_a_cause_stated():
    ev = with_notes(backed(claim("E53.8", "Z98.84"), condition("Condition/c1", {"E53.8"})),
                    note("Status post gastric bypass; lifelong B12 injections."))
    assert "note-no-indication" not in note_codes(ev)


# --- the ladder ----------------------------------------------------------------------------------


def test_note_specificity_loss_suggests_the_notes_code():
    ev = with_notes(charted("E53.8"), note("B12 deficiency anemia, Hgb 10.1."))
    found = finding(ev, "note-specificity-loss")
    assert found.suggested_code == "D51.9" and found.diagnosis == "E53.8"
    assert note_codes(ev) == {"note-specificity-loss"}


def test_note_specificity_loss_is_silent_when_the_claim_codes_the_notes_diagnosis():
    assert note_codes(with_notes(charted("D51.9"), note("B12 deficiency anemia."))) == set()


def test_dx_more_specific_than_note_fires_when_the_claim_is_above_the_note():
    ev = with_notes(charted("D51.0"), note("Vitamin B12 deficiency, monthly injections."))
    found = finding(ev, "dx-more-specific-than-note")
    assert found.suggested_code == "E53.8" and found.diagnosis == "D51.0"


def test_dx_more_specific_than_note_is_silent_when_the_note_states_the_claimed_code():
    ev = with_notes(charted("D51.0"), note("Pernicious anemia, B12 deficiency."))
    assert "dx-more-specific-than-note" not in note_codes(ev)


# --- the quote ----------------------------------------------------------------------------------


def test_the_quote_is_left_out_when_notes_quote_is_false():
    ev = with_notes(charted("E53.8"), note("B12 shot for low energy."))
    assert finding(ev, "note-symptom-only", notes_quote=False).quote is None
    assert finding(ev, "note-symptom-only").quote is not None


def test_a_message_never_carries_the_notes_words():
    ev = with_notes(charted("E53.8"), note("Pt says B12 shot gives her an energy boost."))
    found = finding(ev, "note-symptom-only")
    assert "energy boost" in found.quote and "gives her" not in found.message


def test_a_long_sentence_is_quoted_in_at_most_200_characters_around_the_mention():
    text = "Patient reports " + "many things, " * 40 + "and low energy " + "today, " * 30
    quote = finding(with_notes(charted("E53.8"), note(text)), "note-symptom-only").quote
    sentence = quote.split(": ", 1)[1]
    assert len(sentence) <= 200 and "[[low energy]]" in sentence


# --- loading phase (for payer frequency policies) -------------------------------------------


def test_the_days_notes_tell_a_loading_phase_read_with_context():
    assert DayNotes(DAY, (note("B12 deficiency, loading doses weekly."),)).loading_phase
    assert not DayNotes(DAY, (note("B12 deficiency. No acute distress."),)).loading_phase
    assert not DayNotes(DAY, (note("B12 deficiency; no loading dose needed."),)).loading_phase


@pytest.mark.parametrize("text", [
    "Assessment: B12 deficiency. Plan: loading dose not indicated, maintenance only.",
    "B12 deficiency; consider loading doses if symptoms persist.",
    "B12 deficiency; loading phase completed in December.",
])
def test_a_loading_phase_negated_hypothetical_or_over_is_none(text):
    assert not DayNotes(DAY, (note(text),)).loading_phase


# --- dx-text-only ------------------------------------------------------------------------------


def free_text(text: str, codes: set[str]) -> ConditionFact:
    return ConditionFact("Condition/t1", PATIENT, frozenset(codes), "active", "confirmed",
                         date(2024, 1, 1), None, False, text=text, text_only=True)


def test_dx_text_only_fires_when_only_free_text_documents_the_claimed_code():
    ev = backed(claim("E53.8"), free_text("B12 deficiency", {"E53.8"}))
    assert "dx-text-only" in note_codes(ev)
    assert "dx-not-documented" not in {f.code for f in judged(ev)}


def test_dx_text_only_is_silent_beside_a_coded_condition():
    ev = backed(claim("E53.8"), free_text("B12 deficiency", {"E53.8"}), condition())
    assert "dx-text-only" not in note_codes(ev)


@pytest.mark.parametrize("text", ["History of gastric bypass. B12 1000 mcg IM monthly.",
                                  "A/P: s/p RYGB. Continue monthly IM B12."])
def test_a_past_operation_is_a_present_status(text):
    ev = with_notes(backed(claim("E53.8", "Z98.84"), condition("Condition/c1", {"E53.8"})),
                    note(text))
    assert not note_codes(ev) & {"note-history-only", "note-no-indication"}


# --- how the words are read: blank space, wording, headings (a hostile-input hunt) ----------


@pytest.mark.parametrize("text", [
    "ASSESSMENT: neuropathy of both feet. Vitamin B12 deficiency has been\nruled out by a "
    "repeat level of 480 pg/mL.",  # hard-wrapped at 60 columns
    "Vitamin B12\u00a0deficiency ruled out.",  # &nbsp; in an HTML note
    "Vitamin B12  deficiency ruled out.",
    "Vitamin B12\tdeficiency ruled out.",
    "Vitamin B12\nDeficiency ruled out.",
])
def test_blank_space_inside_a_phrase_or_a_wrapped_line_does_not_hide_it(text):
    ev = with_notes(charted("E53.8"), note(text))
    assert note_codes(ev) == {"note-contradicts"}
    quote = finding(ev, "note-contradicts").quote.lower()
    assert "[[vitamin b12 deficiency]]" in quote and " ruled out" in quote and "\n" not in quote


def test_a_line_that_starts_anew_is_still_its_own_statement():
    ev = with_notes(charted("E53.8"), note("Denies fatigue\nB12 deficiency, monthly shots."))
    assert note_codes(ev) == set()


@pytest.mark.parametrize("text", [
    "Assessment: Vitamin B12 deficiency without anemia.",
    "Denies numbness or tingling, B12 deficiency stable on monthly injections.",
    "No neuropathy, B12 deficiency stable on monthly injections.",
    "Negative for anemia, vitamin B12 deficiency on injections.",
    "no fatigue, B12 deficiency",
    "Vitamin B12-deficiency, monthly injections.",
    "Vitamin B 12 deficiency.",
    "Pt w/ B12 def, on monthly B12 IM.",
    "Hypocobalaminemia, on monthly injections.",
])
def test_ordinary_wording_states_the_diagnosis(text):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == set()


def test_a_negation_still_runs_along_a_list():
    mentions = {m.term.lower(): m.context for m in mentions_of(
        "No evidence of pernicious anemia, celiac disease or gastric bypass.")}
    assert set(mentions.values()) == {"negated"} and len(mentions) == 3


def test_a_hyphenated_b12_deficiency_anemia_is_d51_9():
    assert note_codes(with_notes(charted("D51.9"), note("B12-deficiency anemia."))) == set()


@pytest.mark.parametrize("text", ["Cannot rule out B12 deficiency.",
                                  "Evaluate for B12 deficiency.",
                                  "B12 deficiency is not excluded.",
                                  "B12 deficiency r/o"])
def test_rule_out_wording_is_uncertain_not_negated(text):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == {"note-uncertain"}


@pytest.mark.parametrize("text", ["FHx: pernicious anemia (mother).",
                                  "Screening for B12 deficiency.",
                                  "HPI: here for monthly B12 shot.\nFamily history:\n"
                                  "Pernicious anemia\nSocial history: nonsmoker"])
def test_a_relatives_diagnosis_or_a_screening_is_no_reason(text):
    assert note_codes(with_notes(charted("D51.0"), note(text))) == {"note-no-indication"}


@pytest.mark.parametrize("text", [
    "Subjective: tired.\nObjective: B12 150.\nA: B12 deficiency ruled out.\nPlan: B12 today.",
    "HPI: here for shot.\nIMPRESSION/PLAN: B12 deficiency ruled out.\nPlan: follow up.",
    "Assessment\nB12 deficiency ruled out\nPlan: injection",  # an HTML table's cells
])
def test_soap_slash_and_table_headings_are_read(text):
    ev = with_notes(charted("E53.8"), note(text))
    assert note_codes(ev) == {"note-contradicts"}
    assert "[[B12 deficiency]] ruled out" in finding(ev, "note-contradicts").quote


def test_brackets_in_a_note_are_not_taken_for_the_mention_marks():
    quote = finding(with_notes(charted("D51.0"), note(
        "ASSESSMENT: Labs [[pending]] reviewed and vitamin B12 deficiency, on injections.")),
        "dx-more-specific-than-note").quote
    assert quote.count("[[") == 1 and "[[vitamin B12 deficiency]]" in quote


@pytest.mark.parametrize("text", ["Vitamin B12\u00a0deficiency", "B12 deficiency without anemia",
                                  "Vitamin B12\tdeficiency"])
def test_a_free_text_condition_is_read_as_a_note_is(text):
    from adapter.notes.conditions import text_codes

    assert text_codes(text) == {"E53.8"}


# --- the corpus hunt of the new reader (regressions against the reader before it) ------------


@pytest.mark.parametrize("text, contexts", [
    ("Denies fatigue, weakness.", ["negated", "negated"]),
    ("Negative for fatigue, malaise, weight loss.", ["negated", "negated", "negated"]),
    ("Constitutional: denies fever, chills, fatigue, weight loss.", ["negated", "negated"]),
    ("A/P:\nB12 deficiency - cont\nDenies fatigue, weakness", ["affirmed", "negated", "negated"]),
    ("No pernicious anemia, celiac disease.", ["negated", "negated"]),
    ("no fatigue, B12 deficiency", ["negated", "affirmed"]),
    ("Denies numbness or tingling, B12 deficiency.", ["affirmed"]),
])
def test_a_list_may_end_without_and_or_or(text, contexts):
    assert [m.context for m in mentions_of(text)] == contexts


def test_symptoms_denied_in_a_list_are_no_reason_given():
    ev = with_notes(charted("E53.8"), note("Here for shot. Denies fatigue, weakness."))
    assert note_codes(ev) == {"note-no-indication"}


@pytest.mark.parametrize("text", [
    "Family history: mother with pernicious anemia.\nB12 deficiency, on monthly injections.",
    "FH: pernicious anemia (mother)\nB12 deficiency, on monthly injections.",
    "Family history:\nMother - pernicious anemia\n\nB12 deficiency, on monthly injections.",
    "HPI: pt with fatigue\nDx: B12 deficiency\nPlan: B12 1000 mcg IM",
])
def test_a_family_history_ends_with_its_line_or_paragraph_and_dx_is_a_heading(text):
    ev = with_notes(charted("E53.8"), note(text))
    assert note_codes(ev) == set()
    assert [(m.code, m.context) for m in mentions_of(text)] == [("E53.8", "affirmed")]


@pytest.mark.parametrize("text, codes", [
    ("Ruled out B12 deficiency.", {"note-contradicts"}),
    ("B12 deficiency: not present.", {"note-contradicts"}),
    ("Suspect B12 deficiency.", {"note-uncertain"}),
    ("Questionable B12 deficiency.", {"note-uncertain"}),
    ("Concern for B12 deficiency - check MMA.", {"note-uncertain"}),
    ("Macrocytosis, possibly B12 deficiency.", {"note-uncertain"}),
    ("Anemia ruled out, B12 deficiency confirmed.", set()),
])
def test_doubt_and_negation_written_before_the_diagnosis(text, codes):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == codes


def test_probable_pernicious_anemia_is_uncertain():
    assert note_codes(with_notes(charted("D51.0"), note("Probable pernicious anemia."))) == {
        "note-uncertain"}


@pytest.mark.parametrize("text, codes", [
    ("No evidence of\nB12 deficiency on repeat testing.", {"note-contradicts"}),
    ("Patient denies any history of\nB12 deficiency.", {"note-contradicts"}),
    ("Possible\nB12 deficiency.", {"note-uncertain"}),
    ("Denies fatigue and\n- B12 deficiency, monthly shots.", set()),  # a list's item
])
def test_a_line_cut_short_on_a_word_goes_on_into_the_next(text, codes):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == codes


# --- wording before the term, "?" opening a statement (the corpus's last misreadings) -------


@pytest.mark.parametrize("text, codes", [
    ("Unlikely B12 deficiency.", {"note-uncertain"}),
    ("B12 deficiency unlikely given normal MMA.", {"note-uncertain"}),
    ("?B12 def", {"note-uncertain"}),
    ("? B12 deficiency", {"note-uncertain"}),
    ("Fatigue, ?B12 deficiency - check level.", {"note-uncertain", "note-symptom-only"}),
    ("Resolved: B12 deficiency", {"note-history-only"}),
    ("Resolved B12 deficiency.", {"note-history-only"}),
    ("Prior B12 deficiency, levels now normal.", {"note-history-only"}),
    ("B12 deficiency, stable.", set()),
    ("Anemia resolved, B12 deficiency persists.", set()),
    ("B12 level prior to B12 deficiency treatment.", set()),  # "prior to" is no history
])
def test_wording_before_the_diagnosis_keeps_it_from_supporting_the_claim(text, codes):
    assert note_codes(with_notes(charted("E53.8"), note(text))) == codes


@pytest.mark.parametrize("text, read", [
    ("Fatigue, ?B12 deficiency - check level.",
     [("symptom", "affirmed"), ("E53.8", "uncertain")]),  # the "?" asks of what follows
    ("B12 deficiency? Fatigue.", [("E53.8", "uncertain"), ("symptom", "affirmed")]),
    ("Negative: fatigue, weight loss.", [("symptom", "negated"), ("symptom", "negated")]),
    ("Assessment: B12 deficiency, s/p 4 loading doses, now monthly.",
     [("E53.8", "affirmed"), ("loading", "historical")]),
    ("s/p gastric bypass, B12 deficiency", [("Z98.84", "affirmed"), ("E53.8", "affirmed")]),
])
def test_a_question_mark_reads_the_way_it_faces_and_labels_read_their_list(text, read):
    assert [(m.code, m.context) for m in mentions_of(text)] == read


def test_loading_doses_a_note_says_are_behind_it_are_no_loading_phase():
    text = "Assessment: B12 deficiency, s/p 4 loading doses, now monthly."
    assert not DayNotes(DAY, (note(text),)).loading_phase


def test_symptoms_after_negative_colon_are_no_reason_given():
    ev = with_notes(charted("E53.8"), note("Here for shot. Negative: fatigue, weight loss."))
    assert note_codes(ev) == {"note-no-indication"}


@pytest.mark.parametrize("text, read", [
    ("Denies:\n- fatigue\n- weight loss", [("symptom", "negated"), ("symptom", "negated")]),
    ("Negative:\n1. fatigue\n2) weight loss\nB12 deficiency, stable.",
     [("symptom", "negated"), ("symptom", "negated"), ("E53.8", "affirmed")]),
    ("Problem list:\n- no fatigue\n- B12 deficiency",  # an item of another label stands alone
     [("symptom", "negated"), ("E53.8", "affirmed")]),
])
def test_a_negation_label_above_a_list_negates_each_item(text, read):
    assert [(m.code, m.context) for m in mentions_of(text)] == read


def test_symptoms_listed_under_denies_are_no_reason_given():
    ev = with_notes(charted("E53.8"), note("Here for shot.\nDenies:\n- fatigue\n- weight loss"))
    assert note_codes(ev) == {"note-no-indication"}
