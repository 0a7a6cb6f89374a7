"""Data package: the toolkit's FHIR conformance resources and CP-IS XSDs (read with
``importlib.resources``). Installed as ``interop.profiles``."""

__all__: list[str] = []
