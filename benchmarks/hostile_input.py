"""How fast, and in how much memory, interop validate refuses hostile input.

Each case of tests/validators/test_validate_hostile.py is validated in a fresh child process
(so peak memory is the case's own): wall time of ``validate_bytes`` and the process's peak resident
memory above what importing the toolkit costs. Target (issue 4): under a second each, memory
bounded by the input limits.

Run: ``.venv/bin/python benchmarks/hostile_input.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_validate_hostile import CASES
from interop.validators.files import validate_bytes
validate_bytes(b'{{"resourceType": "Patient"}}', Path("warm-up"))
data, _, _ = CASES[sys.argv[1]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
report = validate_bytes(data, Path("hostile"))
elapsed = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"ms": elapsed * 1000, "extra_mb": (after - before) / 1024,
                  "input_mb": len(data) / 1e6, "issue": report.errors[0].message[:70]}}))
"""


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "validators"))
    from test_validate_hostile import CASES

    code = CHILD.format(tests=str(ROOT / "tests" / "validators"))
    print(f"{'case':<36}{'input':>9}{'time':>10}{'peak +':>10}  issue")
    for name in CASES:
        done = subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, check=True
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{name:<36}{row['input_mb']:>7.1f}MB{row['ms']:>8.1f}ms{row['extra_mb']:>8.1f}MB"
            f"  {row['issue']}"
        )


if __name__ == "__main__":
    main()
