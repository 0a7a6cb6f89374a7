"""Pure mappings between the domain artefacts and wire formats (FHIR, CP-IS, HL7 v2).

Mappings never do I/O. Installed as ``interop.mappings``; the FHIR mappings arrive with
the FHIR issue, the CP-IS ones with the CP-IS issue.
"""

__all__ = [
    "convert",
    "cpis",
    "fhir",
    "fhir_common",
]
