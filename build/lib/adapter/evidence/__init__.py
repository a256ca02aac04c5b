"""Evidence: FHIR resources turned into the plain, typed facts the rules read."""
