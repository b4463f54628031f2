"""Tests for tests/crawlserver.py, the loopback Common Crawl server with injectable faults."""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time

import httpx
import pytest

from tests.crawlserver import CrawlServer, Fault, RequestRecord

pytestmark = pytest.mark.timeout(30)

WARC = "crawl-data/CC-MAIN-SAMPLE/segments/1/warc/CC-MAIN-1-00000.warc.gz"
PATHS = "crawl-data/CC-MAIN-SAMPLE/warc.paths.gz"
SIZE = 300_000


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    data = os.urandom(SIZE)
    (root / os.path.dirname(WARC)).mkdir(parents=True)
    (root / WARC).write_bytes(data)
    (root / PATHS).write_bytes(gzip.compress((WARC + "\n").encode()))
    (root / "collinfo.json").write_text(json.dumps([{"id": "CC-MAIN-SAMPLE"}]))
    (tmp_path / "secret.txt").write_text("outside the root")
    return root


@pytest.fixture
def data(root):
    return (root / WARC).read_bytes()


def _server_threads():
    return [t for t in threading.enumerate() if t.name.startswith("crawlserver")]


@pytest.fixture
def server(root):
    srv = CrawlServer(root).start()
    try:
        yield srv
    finally:
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 3
        assert _server_threads() == []


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def _raw_get(srv: CrawlServer, target: str) -> bytes:
    """Send a request line verbatim (httpx would normalise the path) and read the reply."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


# --------------------------------------------------------------------------- plain serving


def test_url_and_loopback(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert not server.url.endswith("/")
    assert server.port > 0
    assert server.url_for("/collinfo.json") == server.url + "/collinfo.json"


def test_get_is_byte_identical(server, client, data, root):
    r = client.get(server.url_for(WARC))
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-length"] == str(SIZE)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith("GMT")

    # streaming mode, on the same keep-alive connection
    with client.stream("GET", server.url_for(WARC)) as r:
        assert b"".join(r.iter_bytes(4096)) == data

    r = client.get(server.url + "/collinfo.json")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == [{"id": "CC-MAIN-SAMPLE"}]

    r = client.get(server.url_for(PATHS))
    assert gzip.decompress(r.content).decode().strip() == WARC


def test_large_chunked_file(tmp_path, client):
    (tmp_path / "big.warc.gz").write_bytes(os.urandom(5 * 1024 * 1024 + 17))
    with CrawlServer(tmp_path, chunk_size=8192) as srv:
        r = client.get(srv.url_for("big.warc.gz"))
        assert r.content == (tmp_path / "big.warc.gz").read_bytes()
        assert srv.bytes_sent() == 5 * 1024 * 1024 + 17


def test_head(server, client, data):
    r = client.head(server.url_for(WARC))
    assert r.status_code == 200
    assert r.headers["content-length"] == str(SIZE)
    assert r.content == b""
    rec = server.requests[-1]
    assert (rec.method, rec.status, rec.bytes_sent) == ("HEAD", 200, 0)
    # the connection is still usable after a HEAD
    assert client.get(server.url_for(WARC)).content == data


def test_missing_is_404(server, client):
    r = client.get(server.url + "/crawl-data/nope.warc.gz")
    assert r.status_code == 404
    assert b"Not Found" in r.content
    assert client.get(server.url + "/crawl-data").status_code == 404  # a directory
    assert client.get(server.url + "/").status_code == 404


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=100-199", 100, 199),
        ("bytes=0-0", 0, 0),
        (f"bytes={SIZE - 50}-", SIZE - 50, SIZE - 1),
        ("bytes=-1000", SIZE - 1000, SIZE - 1),
        (f"bytes=-{SIZE * 2}", 0, SIZE - 1),  # suffix longer than the file
        (f"bytes=1000-{SIZE * 2}", 1000, SIZE - 1),  # last beyond the end is clamped
    ],
)
def test_range(server, client, data, header, first, last):
    r = client.get(server.url_for(WARC), headers={"Range": header})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
    assert r.headers["content-length"] == str(last - first + 1)
    assert r.content == data[first : last + 1]
    rec = server.requests[-1]
    assert rec.range == header and rec.status == 206 and rec.bytes_sent == last - first + 1


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_range_unsatisfiable(server, client, header):
    r = client.get(server.url_for(WARC), headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{SIZE}"


def test_multi_range_and_garbage_get_full_200(server, client, data):
    for header in ("bytes=0-1,5-6", "bytes=abc", "bytes=10-5"):
        r = client.get(server.url_for(WARC), headers={"Range": header})
        assert r.status_code == 200 and r.content == data


# --------------------------------------------------------------------------- faults


def test_fault_503_with_retry_after(server, client, data):
    server.inject(WARC, Fault.status(503, retry_after=2, body=b"slow down"))
    r = client.get(server.url_for(WARC))
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.content == b"slow down"
    # consumed: the next request gets the file
    assert client.get(server.url_for(WARC)).content == data
    server.inject("/" + WARC, Fault.status(503, retry_after=0.5))
    assert client.get(server.url_for(WARC)).headers["retry-after"] == "0.5"
    assert [r.fault for r in server.requests] == ["status", None, "status"]


@pytest.mark.parametrize("code", [404, 500])
def test_fault_status_codes(server, client, code):
    server.inject(WARC, Fault.status(code))
    r = client.get(server.url_for(WARC))
    assert r.status_code == code and "retry-after" not in r.headers
    assert server.requests[-1].status == code


def test_fault_reset_mid_body(server, client, data):
    server.inject(WARC, Fault.reset(after_bytes=10_000))
    with pytest.raises((httpx.TransportError, httpx.RemoteProtocolError)):
        client.get(server.url_for(WARC))
    rec = server.requests[-1]
    assert (rec.status, rec.bytes_sent, rec.fault, rec.aborted) == (200, 10_000, "reset", True)

    # streaming: the prefix that arrived is the file's prefix
    server.inject(WARC, Fault.reset(after_bytes=5000))
    got = b""
    with pytest.raises(httpx.TransportError):
        with client.stream("GET", server.url_for(WARC)) as r:
            for chunk in r.iter_bytes():
                got += chunk
    assert data.startswith(got) and len(got) <= 5000
    # the client recovers on a fresh connection
    assert client.get(server.url_for(WARC)).content == data


def test_fault_reset_on_range(server, client, data):
    server.inject(WARC, Fault.reset(after_bytes=100))
    with pytest.raises(httpx.TransportError):
        client.get(server.url_for(WARC), headers={"Range": "bytes=1000-"})
    rec = server.requests[-1]
    assert (rec.status, rec.bytes_sent, rec.range) == (206, 100, "bytes=1000-")


def test_fault_slow(server, client, data):
    server.inject(WARC, Fault.slow(bytes_per_sec=200_000))  # 300 kB -> ~1.5 s
    t0 = time.monotonic()
    r = client.get(server.url_for(WARC))
    elapsed = time.monotonic() - t0
    assert r.content == data
    assert 1.2 < elapsed < 3.0
    assert server.requests[-1].fault == "slow"


def test_fault_slow_is_bounded(server, client, data):
    server.inject(WARC, Fault.slow(bytes_per_sec=1000, max_seconds=0.5))  # would take 300 s
    t0 = time.monotonic()
    r = client.get(server.url_for(WARC), headers={"Range": "bytes=0-99999"})
    elapsed = time.monotonic() - t0
    assert r.content == data[:100_000]
    assert 0.4 < elapsed < 2.0


def test_fault_wrong_length_positive(server, client, data):
    server.inject(WARC, Fault.wrong_length(+10))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(server.url_for(WARC))
    rec = server.requests[-1]
    assert rec.bytes_sent == SIZE and rec.fault == "wrong_length"
    assert client.get(server.url_for(WARC)).content == data


def test_fault_wrong_length_negative(server, client, data):
    server.inject(WARC, Fault.wrong_length(-10))
    r = client.get(server.url_for(WARC))
    assert r.headers["content-length"] == str(SIZE - 10)
    assert r.content == data[:-10]
    # the keep-alive connection stays in sync
    assert client.get(server.url_for(WARC)).content == data


def test_faults_consumed_in_order_with_times(server, client, data):
    server.inject(WARC, Fault.status(503, retry_after=1), times=2)
    server.inject(WARC, Fault.status(500))
    server.inject("collinfo.json", Fault.status(404))
    assert server.pending_faults(WARC) == 3 and server.pending_faults() == 4
    codes = [client.get(server.url_for(WARC)).status_code for _ in range(4)]
    assert codes == [503, 503, 500, 200]
    assert server.pending_faults(WARC) == 0
    # HEAD consumes a fault too
    assert client.head(server.url + "/collinfo.json").status_code == 404
    assert client.get(server.url + "/collinfo.json").status_code == 200
    server.inject(WARC, Fault.status(500), times=3)
    server.clear_faults()
    assert server.pending_faults() == 0
    assert client.get(server.url_for(WARC)).status_code == 200


def test_request_log_and_bytes_sent(server, client, data):
    client.get(server.url_for(WARC))
    client.get(server.url_for(WARC), headers={"Range": "bytes=0-99"})
    client.get(server.url + "/collinfo.json")
    client.head(server.url_for(WARC))
    client.get(server.url + "/missing.warc.gz")
    log = server.requests
    assert all(isinstance(r, RequestRecord) for r in log)
    assert [(r.method, r.path, r.range, r.status) for r in log] == [
        ("GET", "/" + WARC, None, 200),
        ("GET", "/" + WARC, "bytes=0-99", 206),
        ("GET", "/collinfo.json", None, 200),
        ("HEAD", "/" + WARC, None, 200),
        ("GET", "/missing.warc.gz", None, 404),
    ]
    n404 = log[-1].bytes_sent
    assert n404 > 0
    assert server.bytes_sent() == SIZE + 100 + n404
    assert server.bytes_sent(".json") == len((server.root / "collinfo.json").read_bytes())
    server.reset_log()
    assert server.requests == [] and server.bytes_sent() == 0


def test_path_traversal_refused(server, client):
    for target in ("/../secret.txt", "/%2e%2e/secret.txt", "/crawl-data/../../secret.txt", "/..%2fsecret.txt"):
        reply = _raw_get(server, target)
        assert reply.startswith(b"HTTP/1.1 404"), (target, reply[:80])
        assert b"outside the root" not in reply
    # an absolute-looking path stays inside the root
    assert client.get(server.url + "//collinfo.json").status_code == 200


def test_concurrent_clients(server, data):
    results = []

    def fetch():
        with httpx.Client(timeout=10) as c:
            results.append(c.get(server.url_for(WARC)).content == data)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert server.bytes_sent() == 8 * SIZE


# --------------------------------------------------------------------------- lifecycle


def test_stop_is_prompt_during_slow_response(root):
    srv = CrawlServer(root).start()
    srv.inject(WARC, Fault.slow(bytes_per_sec=1000, max_seconds=60))
    started = threading.Event()
    outcome = []

    def fetch():
        try:
            with httpx.Client(timeout=30) as c:
                with c.stream("GET", srv.url_for(WARC)) as r:
                    for _ in r.iter_bytes():
                        started.set()
            outcome.append("finished")
        except httpx.HTTPError as e:
            outcome.append(type(e).__name__)

    t = threading.Thread(target=fetch)
    t.start()
    assert started.wait(5)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 1.5
    t.join(5)
    assert not t.is_alive()
    assert outcome and outcome[0] != "finished"  # the client saw a broken body
    assert _server_threads() == []
    rec = srv.requests[-1]
    assert rec.aborted and 0 < rec.bytes_sent < SIZE


def test_stop_with_idle_keepalive_connection_and_restart(root, data):
    with httpx.Client(timeout=10) as c:
        srv = CrawlServer(root).start()
        assert c.get(srv.url_for(WARC)).content == data  # leaves a pooled idle connection
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 1.5
        assert _server_threads() == []
        srv.stop()  # idempotent
        with pytest.raises(RuntimeError):
            srv.url
        with srv:  # restartable, on a fresh port
            assert c.get(srv.url_for(WARC)).content == data
    assert _server_threads() == []
