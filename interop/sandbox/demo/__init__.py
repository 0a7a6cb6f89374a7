"""``interop demo``: the whole journey on loopback (``run.run_demo``), with its HTML report."""

__all__ = [
    "run",
    "toolkit",
]
