"""Shared fixtures: synthetic crawls, the loopback crawl server, Prefect, moto's S3."""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import os
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from tests.crawlserver import CrawlServer  # noqa: E402

# Fixtures shared by several modules: committed token shards and a tokenizer.
pytest_plugins = ["tests.tokens_fixture"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CRAWL = REPO / "sample" / "crawl"
SAMPLE_CRAWL_ID = "CC-MAIN-SAMPLE"
SAMPLE_EXPECTED = json.loads((SAMPLE_CRAWL / "expected.json").read_text())
SAMPLE_PATHS = gzip.decompress((SAMPLE_CRAWL / f"crawl-data/{SAMPLE_CRAWL_ID}/warc.paths.gz").read_bytes()).decode().split()


@dataclass
class Crawl:
    root: Path
    crawl: str
    paths: list[str]

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def file(self, path: str) -> Path:
        return self.root / path

    def bytes(self, path: str) -> bytes:
        return (self.root / path).read_bytes()


def write_warc(path: Path, records: int, body_size: int, seed: int) -> None:
    """A WARC in Common Crawl's shape (one gzip member per record) with noisy bodies, so
    it compresses little and sizes are predictable."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(records):
            noise = base64.b64encode(rng.randbytes(body_size))[:body_size]
            body = b"<html><body><p>" + noise + b"</p></body></html>"
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            record = writer.create_warc_record(f"https://example.org/{seed}/{i}", "response",
                                               payload=io.BytesIO(body), http_headers=headers)
            writer.write_record(record)


def make_crawl(root: Path, crawl: str = "CC-MAIN-2099-01", files: int = 3, records: int = 40,
               body_size: int = 4000, paths_lines: list[str] | None = None) -> Crawl:
    paths = [f"crawl-data/{crawl}/segments/1700000000000.{i}/warc/{crawl}-{i:05d}.warc.gz" for i in range(files)]
    for i, rel in enumerate(paths):
        write_warc(root / rel, records, body_size, seed=i)
    listing = root / f"crawl-data/{crawl}/warc.paths.gz"
    listing.write_bytes(gzip.compress(("\n".join(paths_lines or paths) + "\n").encode(), mtime=0))
    (root / "collinfo.json").write_text(json.dumps([{"id": crawl, "name": crawl}, {"id": "CC-MAIN-2000-01"}]))
    return Crawl(root=root, crawl=crawl, paths=paths)


@pytest.fixture
def crawl(tmp_path: Path) -> Crawl:
    return make_crawl(tmp_path / "cc")


@pytest.fixture
def server(crawl: Crawl) -> Iterator[CrawlServer]:
    with CrawlServer(crawl.root) as srv:
        yield srv


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """Flows in tests report to a throwaway Prefect server with its own database."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.server import service_settings_in_environment

    with contextlib.ExitStack() as stack:
        # Its server is started from this environment, configured as a `fineflow` command's;
        # the settings leave the environment once it is up, not to reach other tests' servers.
        with service_settings_in_environment():
            stack.enter_context(prefect_test_harness(server_startup_timeout=120))
        yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    import boto3

    name = "ff-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def wait_healthy(url: str, proc, log_path: Path, timeout_s: float = 90.0) -> None:
    """Until `url` answers 200; fails with the log's tail if `proc` dies or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up: {log_path.read_text()[-3000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `prefect server start` on 127.0.0.1 with its own home and database; yields the API URL."""
    import subprocess
    import sys

    from flows.server import server_env

    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    # As `fineflow server` starts one (flows/server.py), without the UI.
    env = server_env(port, base={**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                                 "PREFECT_UI_ENABLED": "false"})
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(f"{api}/health", proc, home / "server.log")
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """download, extract and filter every WARC of the sample crawl, without Prefect (once per session)."""
    from storage import StorageConfig, Store
    from tasks.download import DOWNLOAD, DownloadJob
    from tasks.extract import EXTRACT, ExtractJob
    from tasks.filter import FILTER, FilterJob

    storage = StorageConfig(root=str(tmp_path_factory.mktemp("sample-store")))
    store = Store(storage)
    runs = {}
    for path in SAMPLE_PATHS:
        d = DOWNLOAD.run(DownloadJob(storage=storage, shard=path, crawl=SAMPLE_CRAWL_ID, data_url=SAMPLE_CRAWL.as_uri()))
        e = EXTRACT.run(ExtractJob(storage=storage, shard=path, crawl=SAMPLE_CRAWL_ID, sources=[d]))
        f = FILTER.run(FilterJob(storage=storage, shard=path, sources=[e]))
        runs[path.rsplit("/", 1)[-1]] = {"extract": e, "filter": f}
    return store, runs
