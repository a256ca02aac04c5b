"""Where resources come from: files, memory or a FHIR server. Sources only yield resources
(claims page by page, and the records a page needs); they know nothing of rules."""

CLAIM_TYPES = frozenset({"Claim"})  # what a source hands out as claims, page by page
