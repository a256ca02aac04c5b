"""The clinician's note (SPEC 4.2): where notes are (``documents``), their text in any of
the forms they come in (``text``), the terms a note is searched for (``terms``), what it says
about them and in which context (``reader``: medspaCy, loaded only when a note is read), and
which notes belong to a claim's B12 dates (``day``)."""
