"""MLLP (HL7's minimal lower layer protocol): framing, a listener for ADT, and a small client.

A frame is ``0x0B <message> 0x1C 0x0D``. ``MllpDecoder`` turns TCP reads into frames whatever
the reads' boundaries (a message split over reads, several messages in one read) and reports
what is wrong with the stream: bytes outside any frame, a frame with no end block (a new start
block came first), a frame over the size limit.

``MllpServer`` answers every frame with an HL7 acknowledgement and never stops on bad input:

- a frame is first sniffed by the toolkit's one format sniffer (``interop.formats``): one that
  is not HL7 v2 ER7 (FHIR, artefact JSON, CP-IS XML, UTF-16, any other bytes) is answered AR
  as an unreadable message is, with the sniffer's reason; a UTF-8 byte order mark is accepted;
- an ER7 frame is read with ``interop.hl7v2.adt.read_adt`` (the fast path); an error gives AE or AR
  with ERR segments (``interop.hl7v2.ack``); an event read without error goes to the injected
  ``AttendanceHandler`` and the ACK is sent **after** the handler returns, so what the handler
  recorded is durable before the sender forgets the message. A handler that raises or returns
  FAILED gives AE; the connection and the listener carry on;
- a frame without an end block, or still incomplete after the idle timeout, is answered AR;
  a frame over ``max_frame`` bytes is answered AR and the connection closed (the stream cannot
  be trusted to resynchronise);
- a connection idle for ``idle_timeout`` seconds is closed; beyond ``max_connections`` a new
  connection is closed at once, and so is one beyond ``max_per_peer`` from the same address
  (one host cannot take every slot);
- a frame must be complete within ``frame_deadline`` seconds of its start block, however
  steadily its bytes trickle in: after that it is answered AR and the connection closed (a
  client sending a byte every few seconds would otherwise hold its slot for ever);
- ``request_stop()`` (the CLI calls it on SIGTERM and SIGINT) stops accepting, lets every
  connection finish the messages it has received (a connection in the middle of a frame gets
  up to ``shutdown_grace`` seconds to complete it), then closes them.

Why asyncio streams and not a thread per connection: connections are long-lived and mostly
idle, so one event loop holds hundreds of them cheaply, and idle timeouts and the shutdown are
plain ``asyncio.wait`` calls instead of socket timeouts and flags polled by threads. Parsing is
CPU-bound and short (tens of microseconds) and runs on the loop. The handler is the part that
blocks (it writes to a database, perhaps sends): a plain function runs in a thread pool,
one thread by default so calls never overlap and need no locking; a coroutine function is
awaited on the loop. Messages of one connection are processed in order, one at a time, as
original-mode acknowledgement requires.

Logs (logger ``interop.mllp``) name the peer, the event, the control id and the ACK code;
NHS numbers are masked and names and birth dates never appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from interop.formats import UnknownFormat, sniff
from interop.hl7v2.ack import AckCode, build_ack, encode_ack
from interop.hl7v2.adt import (
    AdtReading,
    AttendanceEvent,
    AttendanceHandler,
    HandlerOutcome,
    HandlerResult,
    log_only_handler,
    read_adt,
)
from interop.hl7v2.er7 import hl7_issue, salvage_header
from interop.issues import IssueCode
from interop.privacy import protect_logger
from interop.transport.base import Endpoint, TransportError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_FRAME",
    "END_BLOCK",
    "START_BLOCK",
    "Frame",
    "FrameProblem",
    "MllpClient",
    "MllpDecoder",
    "MllpError",
    "MllpServer",
    "ServerStats",
    "ServerThread",
    "frame",
    "send_messages",
]

START_BLOCK: Final = b"\x0b"
END_BLOCK: Final = b"\x1c"
CARRIAGE_RETURN: Final = b"\r"
#: the largest message accepted; ADT messages are a few kilobytes
DEFAULT_MAX_FRAME = 1024 * 1024
#: seconds a connection may stay silent; senders reconnect when they have something to send
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_PER_PEER = 64
DEFAULT_FRAME_DEADLINE = 60.0
DEFAULT_SHUTDOWN_GRACE = 30.0
_READ_SIZE = 64 * 1024
_HEAD = 4096  # bytes of a refused frame kept to find its MSH for the AR
_WHITESPACE = b" \t\r\n"

_log = logging.getLogger("interop.mllp")
# a sender's control id (MSH-10) and the reasons a message is refused may carry an NHS number
# (bare, spaced or hyphenated): every record of this logger has them masked
protect_logger(_log.name)


def frame(message: bytes) -> bytes:
    """``message`` in an MLLP frame."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


class MllpError(TransportError):
    """The MLLP peer closed, timed out or sent something that is not a frame."""


# -- framing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One complete frame's content."""

    payload: bytes


@dataclass(frozen=True)
class FrameProblem:
    """Something in the stream that is not a good frame.

    ``kind``: ``"junk"`` (bytes outside any frame, ignored), ``"no-end-block"`` (a start block
    came before the end of the frame: the partial frame is in ``head``), ``"oversized"`` (the
    frame passed the limit: its first bytes are in ``head``; the stream is unusable after it).
    """

    kind: str
    size: int
    head: bytes = b""


class MllpDecoder:
    """Frames out of a byte stream, fed in reads of any size (no I/O of its own)."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._in_frame = False
        self._scanned = 0  # bytes of the current frame already searched for an end block
        self.broken = False  # after an oversized frame: everything else is discarded

    @property
    def in_frame(self) -> bool:
        """Whether a frame has started and not yet ended."""
        return self._in_frame and not self.broken

    @property
    def pending(self) -> bytes:
        """The start of the frame still incomplete (for an AR at idle timeout or close)."""
        return bytes(self._buffer[:_HEAD]) if self.in_frame else b""

    def pending_size(self) -> int:
        """How many bytes of an incomplete frame are held."""
        return len(self._buffer) if self.in_frame else 0

    def feed(self, data: bytes) -> list[Frame | FrameProblem]:
        """The frames and problems completed by ``data``, in stream order."""
        if self.broken:
            return []
        buffer = self._buffer
        buffer += data
        found: list[Frame | FrameProblem] = []
        while buffer:
            if not self._in_frame:
                start = buffer.find(START_BLOCK)
                junk = buffer if start < 0 else buffer[:start]
                if junk.strip(_WHITESPACE):
                    found.append(FrameProblem("junk", len(junk)))
                if start < 0:
                    buffer.clear()
                    break
                del buffer[: start + 1]
                self._in_frame, self._scanned = True, 0
                continue
            end = buffer.find(END_BLOCK, self._scanned)
            restart = buffer.find(START_BLOCK, self._scanned)
            if restart >= 0 and (end < 0 or restart < end):
                found.append(
                    FrameProblem("no-end-block", restart, bytes(buffer[: min(restart, _HEAD)]))
                )
                del buffer[:restart]
                self._in_frame = False
                continue
            if end < 0 or end + 1 >= len(buffer):
                # no end block yet, or the end block is the last byte read: wait for more
                self._scanned = len(buffer) if end < 0 else end
                if len(buffer) > self.max_frame:
                    found.append(FrameProblem("oversized", len(buffer), bytes(buffer[:_HEAD])))
                    self.broken = True
                    buffer.clear()
                break
            if end > self.max_frame:
                found.append(FrameProblem("oversized", end, bytes(buffer[:_HEAD])))
                self.broken = True
                buffer.clear()
                break
            found.append(Frame(bytes(buffer[:end])))
            # the end block is followed by CR; a sender that forgets it is forgiven
            del buffer[: end + 2 if buffer[end + 1 : end + 2] == CARRIAGE_RETURN else end + 1]
            self._in_frame = False
        return found


# -- the listener -----------------------------------------------------------------------------


@dataclass
class ServerStats:
    """Counts since the server started (read on the loop's thread, or after it stopped)."""

    connections: int = 0
    refused_connections: int = 0
    messages: int = 0
    acks: dict[str, int] = field(default_factory=lambda: {"AA": 0, "AE": 0, "AR": 0})
    handler_failures: int = 0
    junk_bytes: int = 0


class _Idle:
    """The connection said nothing for the idle timeout (or the shutdown grace ran out)."""


class _Stop:
    """The server is stopping."""


class MllpServer:
    """An MLLP listener for ADT messages (see the module's docstring)."""

    def __init__(
        self,
        handler: AttendanceHandler | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_frame: int = DEFAULT_MAX_FRAME,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
        handler_threads: int = 1,
        application: str = "INTEROP",
        max_per_peer: int = DEFAULT_MAX_PER_PEER,
        frame_deadline: float = DEFAULT_FRAME_DEADLINE,
    ) -> None:
        self.handler: AttendanceHandler = handler or log_only_handler
        self.host, self.port = host, port
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.frame_deadline = frame_deadline
        self._per_peer: dict[str, int] = {}
        self.shutdown_grace = shutdown_grace
        self.application = application
        self.stats = ServerStats()
        self._handler_is_async = inspect.iscoroutinefunction(handler)
        self._executor = ThreadPoolExecutor(handler_threads, thread_name_prefix="adt-handler")
        self._server: asyncio.Server | None = None
        self._stop: asyncio.Future[None] | None = None
        self._stop_deadline = 0.0
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        """The host and port listened on (the port chosen when 0 was asked)."""
        return self.host, self.port

    async def start(self) -> None:
        """Bind and start accepting connections (``OSError`` when the port cannot be had)."""
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=_READ_SIZE, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _log.info("listening for MLLP on %s:%d", self.host, self.port)

    def request_stop(self) -> None:
        """Begin a graceful stop (call on the loop's thread, e.g. from a signal handler)."""
        if self._stop is not None and not self._stop.done():
            self._stop_deadline = time.monotonic() + self.shutdown_grace
            self._stop.set_result(None)

    async def serve(self) -> None:
        """Start, serve until ``request_stop()``, then stop gracefully."""
        if self._server is None:
            await self.start()
        assert self._stop is not None
        await self._stop
        await self._shutdown()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        busy = len(self._connections)
        _log.info("stopped accepting connections; closing %d connection(s)", busy)
        if self._connections:
            _, late = await asyncio.wait(set(self._connections), timeout=self.shutdown_grace + 1)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._server.wait_closed()
        # handler calls still running (a connection cancelled after the grace) are waited for
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        _log.info(
            "stopped: %d message(s) on %d connection(s): AA %d, AE %d, AR %d",
            self.stats.messages,
            self.stats.connections,
            self.stats.acks["AA"],
            self.stats.acks["AE"],
            self.stats.acks["AR"],
        )

    # -- connections ------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        host = peer.rpartition(":")[0] or peer
        stopping = self._stop is None or self._stop.done()
        crowded = len(self._connections) >= self.max_connections
        greedy = self._per_peer.get(host, 0) >= self.max_per_peer
        if stopping or crowded or greedy:
            self.stats.refused_connections += 1
            _log.warning(
                "connection from %s refused: %s",
                peer,
                "stopping"
                if stopping
                else "too many connections"
                if crowded
                else "too many connections from that address",
            )
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._per_peer[host] = self._per_peer.get(host, 0) + 1
        self.stats.connections += 1
        _log.info("connection from %s", peer)
        try:
            await self._converse(reader, writer, peer)
        except (ConnectionError, OSError) as exc:
            _log.info("connection from %s lost: %s", peer, type(exc).__name__)
        except Exception as exc:  # a bug must cost one connection, never the listener
            _log.error("connection from %s failed: %s", peer, _where(exc))
        finally:
            self._connections.discard(task)
            left = self._per_peer.get(host, 1) - 1
            if left > 0:
                self._per_peer[host] = left
            else:
                self._per_peer.pop(host, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            _log.info("connection from %s closed", peer)

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        decoder = MllpDecoder(self.max_frame)
        frame_started: float | None = None
        while True:
            stopping = self._stop is None or self._stop.done()
            if stopping and not decoder.in_frame:
                return
            if not decoder.in_frame:
                frame_started = None
            elif frame_started is None:
                frame_started = time.monotonic()
            late = frame_started is not None and (
                time.monotonic() - frame_started >= self.frame_deadline
            )
            data = _Idle() if late else await self._next_read(reader, stopping, frame_started)
            if isinstance(data, _Stop):
                continue  # the loop's head decides: close now, or finish the frame begun
            if (
                isinstance(data, _Idle)
                and frame_started is not None
                and (time.monotonic() - frame_started >= self.frame_deadline)
            ):
                _log.warning("connection from %s: frame over its deadline; closing", peer)
                await self._refuse(
                    writer,
                    decoder.pending,
                    f"the frame was not complete within {self.frame_deadline:g} s of its start",
                )
                return
            if isinstance(data, _Idle):
                if decoder.in_frame:
                    await self._refuse(
                        writer,
                        decoder.pending,
                        "the frame had no end block (0x1C 0x0D) before the connection went idle",
                    )
                else:
                    _log.info("connection from %s idle: closing", peer)
                return
            if not data:
                if decoder.in_frame:
                    _log.warning(
                        "connection from %s closed in the middle of a frame (%d bytes)",
                        peer,
                        decoder.pending_size(),
                    )
                    with contextlib.suppress(ConnectionError, OSError):
                        await self._refuse(
                            writer,
                            decoder.pending,
                            "the connection closed before the frame's end block",
                        )
                return
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("connection from %s: read %d bytes", peer, len(data))
            for item in decoder.feed(data):
                if isinstance(item, Frame):
                    ack = await self._process(item.payload, peer)
                    writer.write(frame(ack))
                    await writer.drain()
                elif item.kind == "junk":
                    self.stats.junk_bytes += item.size
                    _log.warning(
                        "connection from %s: %d bytes outside any frame ignored", peer, item.size
                    )
                elif item.kind == "no-end-block":
                    await self._refuse(
                        writer,
                        item.head,
                        "the frame had no end block (0x1C 0x0D) before the next start block",
                    )
                else:
                    await self._refuse(
                        writer,
                        item.head,
                        f"the frame is larger than the limit of {self.max_frame:,} bytes",
                    )
                    _log.warning("connection from %s: oversized frame; closing", peer)
                    return
            if decoder.in_frame and _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    "connection from %s: incomplete frame, %d bytes held",
                    peer,
                    decoder.pending_size(),
                )

    async def _next_read(
        self, reader: asyncio.StreamReader, stopping: bool, frame_started: float | None = None
    ) -> bytes | _Idle | _Stop:
        assert self._stop is not None
        timeout = self.idle_timeout
        if frame_started is not None:
            left = self.frame_deadline - (time.monotonic() - frame_started)
            timeout = min(timeout, max(0.0, left))
        if stopping:
            timeout = min(timeout, max(0.0, self._stop_deadline - time.monotonic()))
        read = asyncio.ensure_future(reader.read(_READ_SIZE))
        waiting: set[asyncio.Future[Any]] = {read}
        if not stopping:
            waiting.add(self._stop)
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if read in done:
            return read.result()
        # cancelling a pending read loses nothing: StreamReader keeps unread data buffered
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read
        return _Stop() if self._stop in done else _Idle()

    async def _refuse(self, writer: asyncio.StreamWriter, head: bytes, reason: str) -> None:
        """Answer AR for a frame that could not be taken, with what its MSH shows."""
        self.stats.messages += 1
        self.stats.acks["AR"] += 1
        header = salvage_header(head)
        ack = build_ack(
            header,
            "AR",
            [hl7_issue(IssueCode.INVALID, "", reason, "100")],
            application=self.application,
        )
        writer.write(frame(encode_ack(ack, header)))
        await writer.drain()
        _log.warning("frame refused (AR): %s", reason)

    async def _process(self, payload: bytes, peer: str) -> bytes:
        """Read, hand over and acknowledge one message: the ACK's bytes."""
        self.stats.messages += 1
        try:
            reading = _not_er7(payload) or read_adt(payload)
        except Exception as exc:  # a bug in the reader: answer, log, carry on
            _log.error("reading a message from %s failed: %s", peer, _where(exc))
            reading = AdtReading(
                salvage_header(payload),
                None,
                (
                    hl7_issue(
                        IssueCode.INVALID, "", "the receiver could not read the message", "207"
                    ),
                ),
            )
        code: AckCode = reading.ack_code
        text = ""
        if reading.event is not None:
            result = await self._hand_over(reading.event)
            if result.outcome is HandlerOutcome.FAILED:
                self.stats.handler_failures += 1
                code = "AE"
                text = "the attendance could not be recorded; please resend"
        header = reading.header
        ack = build_ack(header, code, reading.issues, text=text, application=self.application)
        self.stats.acks[code] += 1
        what = (
            f"{header.trigger_event or '?'} {header.control_id or '?'}"
            if header
            else "unreadable message"
        )
        if code == "AA":
            _log.info("%s from %s: AA", what, peer)
        else:
            reasons = "; ".join(f"{i.location or '-'}: {i.message}" for i in reading.errors[:3])
            _log.warning("%s from %s: %s (%s)", what, peer, code, reasons or text)
        return encode_ack(ack, header)

    async def _hand_over(self, event: AttendanceEvent) -> HandlerResult:
        """The handler's result; a failure of any kind becomes FAILED, never an exception."""
        try:
            if self._handler_is_async:
                result = await self.handler(event)  # type: ignore[misc]
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._executor, self.handler, event)
                if inspect.isawaitable(result):
                    result = await result
            if not isinstance(result, HandlerResult):
                raise TypeError(f"the handler returned {type(result).__name__}, not HandlerResult")
        except Exception as exc:
            # the exception's text may quote personal data: log its type and place only
            _log.error("handler failed for %s: %s", event.summary(), _where(exc))
            return HandlerResult(HandlerOutcome.FAILED, type(exc).__name__)
        if result.outcome is HandlerOutcome.FAILED:
            _log.error("handler could not record %s: %s", event.summary(), result.detail)
        return result


#: what the sniffer's formats are called in the answer to a frame of one of them (it takes
#: any JSON without a resourceType for artefact JSON, any XML but HL7 v3 for FHIR XML, and
#: leaves the detail to their readers: so plain "JSON" and "XML" here)
_FORMAT_NAMES = {"artefact": "JSON", "fhir-json": "FHIR JSON", "fhir-xml": "XML"}
CPIS_REFUSED = (
    "CP-IS XML is not read on this listener: it takes HL7 v2 ER7 (ADT) messages; CP-IS "
    "messages travel over MESH"
)


def _not_er7(payload: bytes) -> AdtReading | None:
    """The reading of a frame the one format sniffer says is not ER7 (answered AR, as an
    unreadable message is), or None for an ER7 one (``read_adt`` reads it)."""
    try:
        detected = sniff(payload, subject="the message")
    except UnknownFormat as exc:
        reason = exc.issues[0].message
    else:
        if detected == "er7":
            return None
        reason = (
            CPIS_REFUSED
            if detected == "cpis"
            else f"the message is {_FORMAT_NAMES[detected]}, not HL7 v2 ER7: this listener "
            "takes ER7 (ADT) messages only"
        )
    return AdtReading(None, None, (hl7_issue(IssueCode.INVALID, "MSH", reason, "100"),))


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _where(exc: BaseException) -> str:
    """Where an exception was raised (``adt.py:120 in visit``), without its message or a
    traceback: both may quote values from a message, which may be personal data."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {Path(last.filename).name}:{last.lineno} in {last.name}"


class ServerThread:
    """An ``MllpServer`` on its own event loop in a background thread, for tests, benchmarks and
    programs that are not asyncio: ``with ServerThread(server) as (host, port): ...``."""

    def __init__(self, server: MllpServer) -> None:
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mllp-server", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                await self.server.start()
            finally:
                self._ready.set()
            await self.server.serve()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._ready.set()

    def start(self) -> tuple[str, int]:
        """Start the thread; the address once the server listens."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self.server.address

    def request_stop(self) -> None:
        """Ask for a graceful stop without waiting for it."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.server.request_stop)

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully and wait for the thread to end."""
        self.request_stop()
        self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        """Whether the server has finished."""
        return not self._thread.is_alive()

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# -- the client -------------------------------------------------------------------------------


class MllpClient(Endpoint):
    """A blocking MLLP client: send messages, read their acknowledgements, in order.

    It connects when made (``OSError`` if it cannot); ``name`` is ``mllp://host:port`` unless
    given.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        name: str | None = None,
    ) -> None:
        self.name = name or f"mllp://{host}:{port}"
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._decoder = MllpDecoder(max_frame)
        self._frames: list[bytes] = []

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (framing included or not: for tests of bad streams)."""
        self._socket.sendall(data)

    def receive(self) -> bytes:
        """The next frame received; ``MllpError`` if the server closes or times out first."""
        while not self._frames:
            try:
                data = self._socket.recv(_READ_SIZE)
            except TimeoutError:
                raise MllpError("no acknowledgement before the timeout") from None
            except OSError as exc:
                raise MllpError(f"connection failed: {exc.strerror or exc}") from None
            if not data:
                raise MllpError("the server closed the connection")
            for item in self._decoder.feed(data):
                if isinstance(item, Frame):
                    self._frames.append(item.payload)
                else:
                    raise MllpError(f"the server sent a bad frame ({item.kind})")
        return self._frames.pop(0)

    def send(self, message: bytes) -> bytes:
        """Send one message and wait for its acknowledgement."""
        self.send_raw(frame(message))
        return self.receive()

    def send_all(self, messages: Iterable[bytes], window: int = 1) -> list[bytes]:
        """Send messages keeping up to ``window`` unacknowledged; their ACKs, in order."""
        acks: list[bytes] = []
        outstanding = 0
        for message in messages:
            if outstanding >= window:
                acks.append(self.receive())
                outstanding -= 1
            self.send_raw(frame(message))
            outstanding += 1
        acks.extend(self.receive() for _ in range(outstanding))
        return acks

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(OSError):
            self._socket.close()


def send_messages(host: str, port: int, messages: Sequence[bytes], window: int = 1) -> list[bytes]:
    """Open a connection, send ``messages``, return their acknowledgements, close."""
    with MllpClient(host, port) as client:
        return client.send_all(messages, window)
