"""FHIR R4 on the wire, through ``fhir.resources.R4B``: the only package that imports it.

- ``check_structure(resource)``: every structural problem of a FHIR JSON resource, located.
- ``read_fhir_json(data)`` / ``read_fhir_xml(data)``: untrusted bytes to FHIR JSON, hardened.
- ``to_xml(resource)``: FHIR JSON to FHIR XML.
- ``XmlBundleStream(data)``: a large FHIR XML Bundle, one entry at a time.

Importing this package is costly (fhir.resources loads its models on first use), so the CLI
imports it only in commands that need it.
"""

from interop.fhir.structure import check_structure
from interop.fhir.wire import FhirInputError, read_fhir_json, read_fhir_xml
from interop.fhir.xml_stream import XmlBundleStream, XmlStreamError
from interop.fhir.xml_writer import to_xml

__all__ = [
    "FhirInputError",
    "XmlBundleStream",
    "XmlStreamError",
    "check_structure",
    "read_fhir_json",
    "read_fhir_xml",
    "structure",
    "to_xml",
    "wire",
]
