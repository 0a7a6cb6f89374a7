"""The command line: thin click commands that parse arguments, call the library and print.

Installed as ``interop.cli``; the entry point is ``interop.cli.main:main``.
"""

__all__ = [
    "main",
]
