"""Where resources come from: files on disk or a FHIR server. Sources know nothing of rules."""
