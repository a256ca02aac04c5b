"""Code system URLs the readers and rules compare codings with (FHIR R4 NamingSystem)."""

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
