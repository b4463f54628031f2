"""A loopback HTTP server that serves a directory laid out like data.commoncrawl.org.

Tests and benchmarks point the pipeline's downloader at ``CrawlServer(root).url``
instead of ``https://data.commoncrawl.org`` and can inject faults per path::

    with CrawlServer(tmp_path) as srv:
        srv.inject("crawl-data/CC-MAIN-SAMPLE/warc/x.warc.gz", Fault.status(503, retry_after=1))
        srv.inject("crawl-data/CC-MAIN-SAMPLE/warc/x.warc.gz", Fault.reset(after_bytes=1000))
        ...  # the first GET gets a 503, the second a reset mid-body, the third the file
        assert srv.bytes_sent() == expected

Design notes

* Stdlib only. Bound to 127.0.0.1, port 0 (OS-assigned) by default.
* HTTP/1.1 with keep-alive: every response carries a Content-Length, so httpx can
  reuse connections in streaming and non-streaming mode.
* Bodies are streamed with ``socket.sendfile`` (zero-copy on Linux) in
  ``chunk_size`` pieces, never read whole into memory; Nagle is disabled.
* Every wait is bounded and wakes up on ``stop()``; ``stop()`` shuts down all
  open connections (including idle keep-alive ones and responses in flight), then
  joins every connection thread, so nothing leaks and nothing hangs a test.
* Faults are queued per path and each is consumed by exactly one GET or HEAD
  request of that path, in injection order, whether or not the file exists.
* ``requests`` / ``bytes_sent()`` wait (at most ``settle_timeout`` seconds) for
  responses whose last bytes are being written to be logged, so a test that has
  just read a whole response always finds it in the log.
* Symlinks under ``root`` are followed (so a benchmark can link a big file in);
  URL paths containing ``..`` segments, NUL or backslashes get a 404.
"""

from __future__ import annotations

import email.utils
import io
import os
import re
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["CrawlServer", "Fault", "RequestRecord"]


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build it with the static constructors."""

    kind: str  # "status" | "reset" | "slow" | "wrong_length"
    code: int = 0
    retry_after: float | None = None
    body: bytes = b""
    after_bytes: int = 0
    bytes_per_sec: int = 0
    max_seconds: float = 0.0
    delta: int = 0

    @staticmethod
    def status(code: int, retry_after: float | None = None, body: bytes = b"") -> "Fault":
        """Answer with ``code`` (e.g. 503, 404, 500) and ``body`` instead of the file.

        ``retry_after`` (seconds) is sent as a ``Retry-After`` header: an integer when
        it is whole (``2.0`` -> ``"2"``), otherwise the decimal (``0.5`` -> ``"0.5"``).
        """
        if not 100 <= int(code) <= 599:
            raise ValueError(f"HTTP status out of range: {code}")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        return Fault("status", code=int(code), retry_after=retry_after, body=bytes(body))

    @staticmethod
    def reset(after_bytes: int) -> "Fault":
        """Send headers and ``after_bytes`` bytes of the body, then reset the connection (RST)."""
        if after_bytes < 0:
            raise ValueError("after_bytes must be >= 0")
        return Fault("reset", after_bytes=int(after_bytes))

    @staticmethod
    def slow(bytes_per_sec: int, max_seconds: float = 5.0) -> "Fault":
        """Trickle the body at ``bytes_per_sec``; after ``max_seconds`` send the rest at full speed."""
        if bytes_per_sec <= 0:
            raise ValueError("bytes_per_sec must be > 0")
        if max_seconds < 0:
            raise ValueError("max_seconds must be >= 0")
        return Fault("slow", bytes_per_sec=int(bytes_per_sec), max_seconds=float(max_seconds))

    @staticmethod
    def wrong_length(delta: int) -> "Fault":
        """Declare ``Content-Length = real + delta``.

        ``delta > 0``: send the real bytes, then close the connection (the client sees an
        incomplete body). ``delta < 0``: send only the declared bytes (a silently
        truncated body; the connection stays usable).
        """
        return Fault("wrong_length", delta=int(delta))

    @property
    def name(self) -> str:
        return self.kind

    def __str__(self) -> str:
        if self.kind == "status":
            ra = "" if self.retry_after is None else f", retry_after={self.retry_after}"
            return f"status({self.code}{ra})"
        if self.kind == "reset":
            return f"reset(after_bytes={self.after_bytes})"
        if self.kind == "slow":
            return f"slow({self.bytes_per_sec} B/s, max_seconds={self.max_seconds})"
        return f"wrong_length({self.delta:+d})"


@dataclass(frozen=True)
class RequestRecord:
    """One finished request, as the server saw it."""

    method: str  # "GET" / "HEAD"
    path: str  # URL path, percent-decoded, with leading "/", no query string
    range: str | None  # the Range header as sent, or None
    status: int  # status code sent (0 if the connection died before a status line)
    bytes_sent: int  # body bytes handed to the kernel (headers not counted)
    fault: str | None  # Fault.kind applied ("status", "reset", "slow", "wrong_length") or None
    fault_spec: Fault | None = None  # the Fault itself
    started: float = 0.0  # time.monotonic() when the request line was parsed
    duration: float = 0.0  # seconds until the response was done (or aborted)
    aborted: bool = False  # the connection broke / was reset before the response was complete


# --------------------------------------------------------------------------- internals

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_UNSATISFIABLE = "unsatisfiable"

_CONTENT_TYPES = {
    ".gz": "application/octet-stream",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".paths": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".parquet": "application/octet-stream",
}


def _content_type(path: str) -> str:
    return _CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")


def _parse_range(value: str | None, size: int):
    """None (serve the whole file), _UNSATISFIABLE, or (first, last) inclusive."""
    if value is None or "," in value:  # absent, or multi-range: answer with the full 200
        return None
    m = _RANGE_RE.match(value)
    if not m:
        return None  # syntactically invalid: ignore (RFC 9110 14.2)
    a, b = m.groups()
    if not a and not b:
        return None
    if not a:  # suffix range: bytes=-n
        n = int(b)
        if n == 0 or size == 0:
            return _UNSATISFIABLE
        n = min(n, size)
        return (size - n, size - 1)
    first = int(a)
    last = int(b) if b else size - 1
    if b and last < first:
        return None  # invalid: ignore
    if first >= size:
        return _UNSATISFIABLE
    return (first, min(last, size - 1))


def _normalize(path: str) -> str:
    return path.lstrip("/")


class _State:
    """Per-request bookkeeping."""

    __slots__ = ("status", "sent", "finishing", "aborted")

    def __init__(self) -> None:
        self.status = 0
        self.sent = 0
        self.finishing = False
        self.aborted = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, owner: "CrawlServer") -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self.conn_lock = threading.Lock()
        self.conns: set[socket.socket] = set()
        self.conn_threads: set[threading.Thread] = set()
        super().__init__(addr, _Handler)

    # One thread per connection, tracked so stop() can close and join them all.
    def process_request(self, request, client_address):
        with self.conn_lock:
            refuse = self.stopping.is_set()
            if not refuse:
                t = threading.Thread(
                    target=self._connection_main,
                    args=(request, client_address),
                    name=f"crawlserver-conn-{client_address[1]}",
                    daemon=True,
                )
                self.conns.add(request)
                self.conn_threads.add(t)
        if refuse:
            self.shutdown_request(request)
            return
        t.start()

    def _connection_main(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.conn_lock:
                self.conn_threads.discard(threading.current_thread())

    def shutdown_request(self, request):
        with self.conn_lock:
            self.conns.discard(request)
            super().shutdown_request(request)

    def abort_connection(self, sock: socket.socket, rfile) -> None:
        """Close with SO_LINGER {1, 0} so the kernel sends RST instead of FIN."""
        with self.conn_lock:
            self.conns.discard(sock)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                rfile.close()  # drop the makefile() reference so close() really closes the fd
            except OSError:
                pass
            sock.close()

    def close_all_connections(self) -> None:
        with self.conn_lock:
            for c in list(self.conns):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)) or self.stopping.is_set():
            return  # client went away, or we are stopping: not interesting
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CrawlServer/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections and stalled clients give up after this
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - silence per-request logging
        pass

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    # -------------------------------------------------------------- request flow

    def _serve(self, head: bool) -> None:
        srv = self.server
        owner = srv.owner
        started = time.monotonic()
        try:
            url_path = unquote(urlsplit(self.path).path, errors="strict")
        except (UnicodeDecodeError, ValueError):
            url_path = self.path
        if not url_path.startswith("/"):
            url_path = "/" + url_path
        rel = _normalize(url_path)
        range_header = self.headers.get("Range")
        fault = owner._take_fault(rel)
        st = _State()
        abort = False
        try:
            abort = self._respond(rel, range_header, head, fault, st)
        except OSError:  # client went away, connection shut down by stop(), timeout...
            st.aborted = True
            self.close_connection = True
        finally:
            if abort:
                st.aborted = True
            owner._record(
                RequestRecord(
                    method=self.command,
                    path=url_path,
                    range=range_header,
                    status=st.status,
                    bytes_sent=st.sent,
                    fault=fault.kind if fault else None,
                    fault_spec=fault,
                    started=started,
                    duration=time.monotonic() - started,
                    aborted=st.aborted,
                ),
                st.finishing,
            )
            if abort:
                self.close_connection = True
                srv.abort_connection(self.connection, self.rfile)

    def _respond(self, rel: str, range_header, head: bool, fault: Fault | None, st: _State) -> bool:
        """Send the response; return True when the connection must be reset afterwards."""
        if fault is not None and fault.kind == "status":
            extra = {}
            if fault.retry_after is not None:
                ra = fault.retry_after
                extra["Retry-After"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
            return self._send_bytes(fault.code, fault.body, head, None, st, extra)

        full = self.server.owner._resolve(rel)
        f = None
        if full is not None:
            try:
                f = open(full, "rb")
            except OSError:
                f = None
        if f is None:
            return self._send_bytes(404, f"404 Not Found: /{rel}\n".encode(), head, fault, st)

        with f:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            headers = {
                "Content-Type": _content_type(full),
                "Accept-Ranges": "bytes",
                "ETag": f'"{size:x}-{stat.st_mtime_ns:x}"',
                "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
            }
            rng = _parse_range(range_header, size)
            if rng == _UNSATISFIABLE:
                return self._send_bytes(
                    416, b"", head, fault, st, {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
                )
            if rng is None:
                return self._send_body(200, headers, f, 0, size, head, fault, st)
            first, last = rng
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            return self._send_body(206, headers, f, first, last - first + 1, head, fault, st)

    def _send_bytes(self, code, body: bytes, head, fault, st, extra=None) -> bool:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        headers.update(extra or {})
        return self._send_body(code, headers, io.BytesIO(body), 0, len(body), head, fault, st)

    def _send_body(self, code, headers, f, offset: int, length: int, head, fault, st) -> bool:
        kind = fault.kind if fault is not None else None
        declared = length
        if kind == "wrong_length":
            declared = max(0, length + fault.delta)

        self.send_response(code)
        st.status = code
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(declared))

        if head:
            self._mark_finishing(st)
            self.end_headers()
            return kind == "reset"

        if kind == "reset":
            n = min(fault.after_bytes, length)
            self.end_headers()
            self._copy(f, offset, n, st, final=True)
            return True

        if kind == "slow":
            if length == 0:
                self._mark_finishing(st)
            self.end_headers()
            self._trickle(f, offset, length, fault, st)
            return False

        n = min(length, declared)
        if n == 0:
            self._mark_finishing(st)
        self.end_headers()
        self._copy(f, offset, n, st, final=True)
        if declared > n:  # wrong_length(+delta): the promised bytes never come; close (FIN)
            self.close_connection = True
        return False

    # -------------------------------------------------------------- body writers

    def _mark_finishing(self, st: _State) -> None:
        if not st.finishing:
            st.finishing = True
            self.server.owner._begin_finishing()

    def _copy(self, f, offset: int, count: int, st: _State, final: bool) -> None:
        """Send ``count`` bytes of ``f`` from ``offset`` in chunk_size pieces.

        Real files go through ``os.sendfile`` (zero-copy); in-memory bodies through send().
        """
        srv = self.server
        sock = self.connection
        chunk = srv.owner.chunk_size
        pos, end = offset, offset + count
        if count == 0 and final:
            self._mark_finishing(st)
        try:
            fd = f.fileno()
        except (AttributeError, io.UnsupportedOperation):
            fd = None
        poller = None
        sock_timeout = sock.gettimeout()
        while pos < end:
            if srv.stopping.is_set():
                raise ConnectionAbortedError("server stopping")
            n = min(chunk, end - pos)
            if final and pos + n >= end:
                self._mark_finishing(st)
            if fd is None:
                f.seek(pos)
                data = f.read(n)
                if not data:
                    sent = 0
                else:
                    sock.sendall(data)
                    sent = len(data)
            else:
                try:
                    sent = os.sendfile(sock.fileno(), fd, pos, n)
                except (BlockingIOError, InterruptedError):
                    # the socket has a timeout, hence is non-blocking: wait until writable
                    if poller is None:
                        poller = select.poll()
                        poller.register(sock.fileno(), select.POLLOUT)
                    ms = None if sock_timeout is None else int(sock_timeout * 1000)
                    if not poller.poll(ms):
                        raise TimeoutError("send timed out")
                    continue
            st.sent += sent
            pos += sent
            if sent == 0:  # file shrank under us: stop; the client sees a short body
                self.close_connection = True
                return

    def _trickle(self, f, offset: int, count: int, fault: Fault, st: _State) -> None:
        srv = self.server
        bps = fault.bytes_per_sec
        piece = max(1, min(srv.owner.chunk_size, bps // 20))  # about 20 writes a second
        t0 = time.monotonic()
        deadline = t0 + fault.max_seconds
        pos, end = offset, offset + count
        while pos < end:
            now = time.monotonic()
            if now >= deadline:
                self._copy(f, pos, end - pos, st, final=True)
                return
            n = min(piece, end - pos)
            due = t0 + (pos - offset + n) / bps
            if due > now:
                if srv.stopping.wait(min(due, deadline) - now):
                    raise ConnectionAbortedError("server stopping")
                continue
            self._copy(f, pos, n, st, final=pos + n >= end)
            pos += n


# --------------------------------------------------------------------------- public server


class CrawlServer:
    """Serve ``root`` over HTTP on loopback, Common Crawl style, with injectable faults."""

    def __init__(
        self,
        root: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_size: int = 64 * 1024,
        settle_timeout: float = 2.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("CrawlServer binds to loopback only")
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(str(root))
        self._root_abs = os.path.abspath(str(self.root))
        self.host = "127.0.0.1" if host == "localhost" else host
        self._port = int(port)
        self.chunk_size = max(1, int(chunk_size))
        self.settle_timeout = float(settle_timeout)

        self._faults: dict[str, deque[Fault]] = {}
        self._fault_lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._log_cond = threading.Condition()
        self._finishing = 0

        self._httpd: _Server | None = None
        self._serve_thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> "CrawlServer":
        if self._httpd is not None:
            return self
        if ":" in self.host:

            class _Server6(_Server):
                address_family = socket.AF_INET6

            httpd: _Server = _Server6((self.host, self._port), self)
        else:
            httpd = _Server((self.host, self._port), self)
        self._httpd = httpd
        self._serve_thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="crawlserver-accept", daemon=True
        )
        self._serve_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, break every open connection, join every thread (bounded by ``timeout``)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        deadline = time.monotonic() + timeout
        httpd.stopping.set()
        httpd.shutdown()  # serve_forever returns within poll_interval
        httpd.close_all_connections()
        httpd.server_close()
        with httpd.conn_lock:
            threads = list(httpd.conn_threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._serve_thread is not None:
            self._serve_thread.join(max(0.0, deadline - time.monotonic()))
            self._serve_thread = None
        with self._log_cond:  # nothing is in flight any more
            self._finishing = 0
            self._log_cond.notify_all()

    def __enter__(self) -> "CrawlServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("CrawlServer is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        """Absolute URL of ``path`` (relative to root, leading "/" optional)."""
        return f"{self.url}/{_normalize(path)}"

    # -------------------------------------------------------------- faults

    def inject(self, path: str, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` ``times`` times for ``path``; each GET/HEAD of it consumes one."""
        if not isinstance(fault, Fault):
            raise TypeError("fault must be a Fault")
        if times < 0:
            raise ValueError("times must be >= 0")
        with self._fault_lock:
            self._faults.setdefault(_normalize(path), deque()).extend([fault] * times)

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._faults.clear()

    def pending_faults(self, path: str | None = None) -> int:
        """How many injected faults are not consumed yet (for ``path``, or in all)."""
        with self._fault_lock:
            if path is not None:
                return len(self._faults.get(_normalize(path), ()))
            return sum(len(q) for q in self._faults.values())

    def _take_fault(self, rel: str) -> Fault | None:
        with self._fault_lock:
            q = self._faults.get(rel)
            if not q:
                return None
            fault = q.popleft()
            if not q:
                del self._faults[rel]
            return fault

    # -------------------------------------------------------------- log

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of finished requests, oldest first.

        Waits (at most ``settle_timeout`` s) for responses whose final bytes are being
        written to be logged, so a response a client has fully read is always listed.
        """
        with self._log_cond:
            self._log_cond.wait_for(lambda: self._finishing == 0, timeout=self.settle_timeout)
            return list(self._log)

    def bytes_sent(self, suffix: str = ".warc.gz") -> int:
        """Total body bytes sent for request paths ending with ``suffix`` ("" for all)."""
        return sum(r.bytes_sent for r in self.requests if r.path.endswith(suffix))

    def reset_log(self) -> None:
        with self._log_cond:
            self._log.clear()

    def _begin_finishing(self) -> None:
        with self._log_cond:
            self._finishing += 1

    def _record(self, rec: RequestRecord, was_finishing: bool) -> None:
        with self._log_cond:
            self._log.append(rec)
            if was_finishing and self._finishing > 0:
                self._finishing -= 1
            self._log_cond.notify_all()

    # -------------------------------------------------------------- files

    def _resolve(self, rel: str) -> str | None:
        """The file for URL path ``rel`` or None (missing, a directory, or escaping root)."""
        if "\x00" in rel or "\\" in rel:
            return None
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            return None
        full = os.path.normpath(os.path.join(self._root_abs, *parts))
        if os.path.commonpath([full, self._root_abs]) != self._root_abs:
            return None
        return full if os.path.isfile(full) else None
