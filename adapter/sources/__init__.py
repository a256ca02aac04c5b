"""Where resources come from: files, memory or a FHIR server. Sources only yield resources
(claims page by page, and the records a page needs); they know nothing of rules."""

# What a source hands out as claims, page by page: payer data (CARIN Blue Button, CMS
# exports) is checked exactly like a claim (SPEC 4.1).
CLAIM_TYPES = frozenset({"Claim", "ExplanationOfBenefit"})
