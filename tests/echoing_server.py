"""A FHIR server on 127.0.0.1 that answers every request with one error status and an
OperationOutcome quoting what it was asked, query included, as many real servers do
("Resource Patient/9434765919 is not known"): what the toolkit prints and logs of a
server's error must not pass an NHS number on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@contextmanager
def echoing_server(status: int) -> Iterator[str]:
    """The base URL of a server answering ``status`` to everything, its diagnostics
    quoting the request's method and URL (decoded)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            asked = unquote(self.path)
            body = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": "not-found" if status == 404 else "exception",
                        "diagnostics": f"cannot answer {self.command} {asked}",
                        "details": {"text": f"Resource {asked.rsplit('/', 1)[-1]} is not known"},
                    }
                ],
            }
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:  # no access log: paths hold numbers
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()
