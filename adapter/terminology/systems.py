"""Code system URLs the readers and rules compare codings with (FHIR R4 NamingSystem), and
the other spellings of them real records use.

A coding is read under its system's canonical URL (``fields.codings``): the HL7 OID (SPEC 4.1
reads ICD-10-CM, HCPCS and UCUM by OID), ``https`` for ``http`` and a trailing slash are the
same system. A lab coded under ``urn:oid:2.16.840.1.113883.6.1`` was no lab, and a diagnosis
under ``.../icd-10-cm/`` "had no ICD-10-CM code", with nothing said about the system.
"""

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

_OIDS = {
    LOINC: "urn:oid:2.16.840.1.113883.6.1",
    RXNORM: "urn:oid:2.16.840.1.113883.6.88",
    NDC: "urn:oid:2.16.840.1.113883.6.69",
    ICD10CM: "urn:oid:2.16.840.1.113883.6.90",
    SNOMED: "urn:oid:2.16.840.1.113883.6.96",
}
# another spelling -> the canonical URL
ALIASES = {alias: url for url, oid in _OIDS.items()
           for alias in (oid, f"{url}/", f"https{url[4:]}", f"https{url[4:]}/")}


def canonical(system: str) -> str:
    """``system`` under its canonical URL when it is another spelling of one."""
    return ALIASES.get(system, system)


def markers(url: str) -> tuple[str, str]:
    """What every spelling of ``url`` holds: the URL without its scheme, or its OID (a test
    on raw lines finds the system by these: ``adapter.evidence.needs``)."""
    return url.partition("://")[2], _OIDS[url]
