"""Sandboxes on loopback, and ``interop demo``: the toolkit's whole journey on one machine.

- ``interop.sandbox.mesh``: NHS England's mesh-sandbox run by uvicorn in a subprocess, with
  the LA's and CP-IS's mailboxes and workflows seeded (the tests use it too);
- ``interop.sandbox.cpis_fhir``: the CP-IS stand-in publishing its register on the FHIR
  sandbox, so a trust can look a child up through the CP-IS FHIR API;
- ``interop.sandbox.demo.world``: everything the demo starts, stopped by one ``ExitStack``;
- ``interop.sandbox.demo.steps``: the demo's steps, each returning a ``StepResult``; the
  workflow steps run ``interop.jobs``, as the commands do;
- ``interop.sandbox.demo.run``: ``run_demo(report_dir)``, the steps in order;
- ``interop.sandbox.demo.report``: the demo's HTML report.

The simulators and the conformance step are given the mappings and checks they use as a
``Toolkit`` (``interop.cli.demo_cmd.demo_toolkit()`` builds the real one).
Nothing here is imported by ``interop --help``.
"""

__all__ = [
    "cpis_spine",
    "cpis_standin",
    "demo",
    "fhir_server",
    "mesh",
    "national",
]
