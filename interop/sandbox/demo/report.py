"""The demo's HTML report: every step, what it sent, received and refused, and why.

One self-contained page (inline CSS, no script, no external asset). Everything written is
escaped, and every ten-digit run (an NHS number) is masked, wherever it comes from: the
steps already name children by masked NHS number only; this is the second guard.
(The masking follows ``interop.validators.reports.safe_text``, which the core cannot import.)
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from interop import __version__
from interop.privacy import mask_nhs_numbers_in

if TYPE_CHECKING:
    from interop.sandbox.demo.steps import StepResult

__all__ = ["render_report", "write_report"]

#: a ten-digit number, spaced 3-3-4 or not

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d2329;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem}
h3{font-size:1rem;margin:1rem 0 .3rem}.meta{color:#5a6570;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid #e3e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}ul{margin:.2rem 0 .6rem 1.2rem;padding:0}li{margin:.1rem 0}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;font-size:.8rem;font-weight:600}
.ok{background:#dff3e4;color:#17612c}.failed{background:#fbe3e1;color:#8f1d14}
.notrun{background:#eceff1;color:#5a6570}.refused li{color:#8f1d14}
section{border-top:1px solid #d8dde2;margin-top:1.4rem}
"""


def _e(value: str) -> str:
    return html.escape(mask_nhs_numbers_in(value), quote=True)


def _badge(step: StepResult) -> str:
    if not step.ran:
        return '<span class="badge notrun">NOT RUN</span>'
    if step.ok:
        return '<span class="badge ok">OK</span>'
    return '<span class="badge failed">FAILED</span>'


def _items(title: str, items: Sequence[str], css: str = "") -> list[str]:
    if not items:
        return []
    cls = f' class="{css}"' if css else ""
    return [
        f"<h3>{_e(title)} ({len(items)})</h3><ul{cls}>",
        *(f"<li>{_e(i)}</li>" for i in items),
        "</ul>",
    ]


def render_report(
    steps: Sequence[StepResult],
    *,
    seconds: float,
    state: Path | None,
    generated: datetime | None = None,
) -> str:
    """The report page."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC")
    passed = sum(s.ran and s.ok for s in steps)
    verdict = "every step did what it should" if passed == len(steps) else "some steps FAILED"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>interop demo: {_e(verdict)}</title><style>{_CSS}</style></head><body>",
        "<h1>interop demo: the whole journey on 127.0.0.1</h1>",
        f'<p class="meta">safeguarding-interop {_e(__version__)} &middot; {when} &middot; '
        f"{passed} of {len(steps)} steps ok in {seconds:.1f} s &middot; {_e(verdict)}</p>",
        "<p>A synthetic local authority export goes to CP-IS over MESH; CP-IS (the stand-in) "
        "answers and publishes its register on the FHIR sandbox; a trust looks a child up; the "
        "child's A&amp;E attendance arrives over MLLP and the local authority is told; a travel "
        "alert and a strategy discussion health report are validated, mapped and pushed. Every "
        "person is invented; NHS numbers are from the test block and shown masked.</p>",
    ]
    if state is not None:
        out.append(f'<p class="meta">Working files: {_e(str(state))}</p>')
    out.append(
        "<h2>Steps</h2><table><thead><tr><th>#</th><th>Result</th><th>Step</th>"
        "<th>Summary</th><th>Time</th></tr></thead><tbody>"
    )
    for number, step in enumerate(steps, 1):
        out.append(
            f'<tr><td>{number}</td><td>{_badge(step)}</td><td><a href="#step-{number}">'
            f"{_e(step.name)}</a></td><td>{_e(step.summary)}</td>"
            f"<td>{step.seconds:.2f}&nbsp;s</td></tr>"
        )
    out.append("</tbody></table>")
    for number, step in enumerate(steps, 1):
        out.append(f'<section id="step-{number}"><h2>{number}. {_e(step.name)} {_badge(step)}</h2>')
        out.append(f"<p>{_e(step.summary)}</p>")
        if step.lines:
            out += ["<ul>", *(f"<li>{_e(line)}</li>" for line in step.lines), "</ul>"]
        out += _items("Sent", step.sent)
        out += _items("Received", step.received)
        out += _items("Refused, and why", step.rejected, "refused")
        out += _items("Details", step.details)
        out.append("</section>")
    out.append(
        '<p class="meta">Written by <code>interop demo</code>. NHS numbers are masked; no '
        "message content is copied into this report.</p></body></html>"
    )
    return "\n".join(out) + "\n"


def write_report(
    path: Path, steps: Sequence[StepResult], *, seconds: float, state: Path | None
) -> Path:
    """Write the report to ``path`` (its folder made when absent); ``OSError`` when it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_text(render_report(steps, seconds=seconds, state=state), encoding="utf-8")
    temporary.replace(path)
    return path
