"""safeguarding-interop: children's safeguarding information between the NHS and local
authorities, as FHIR R4 (UK Core) and CP-IS, validated and moved safely.

The domain model is in ``interop.domain``; reading and writing artefact JSON in
``interop.artefact_json``; validation in ``interop.validators``; the command line in
``interop.cli``.
"""

__version__ = "0.1.0"
