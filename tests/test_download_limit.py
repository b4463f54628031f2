"""Polite downloads: a tag concurrency limit on the Prefect server bounds WARC downloads
across every run sharing it, and a limit already on the server is the operator's."""

from __future__ import annotations

import logging
import subprocess

import pytest
from prefect import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from flows.config import PipelineConfig
from flows.limits import ensure_tag_limit, limit_name
from flows.pipeline import run_pipeline
from storage import Store
from tasks.download import POLITE_TAG
from tests.conftest import make_crawl
from tests.crawlserver import CrawlServer, Fault
from tests.flowtools import fineflow, newest_flow_run, task_states

pytestmark = pytest.mark.usefixtures("prefect_api")

LIMIT = limit_name(POLITE_TAG)
RATE = 5_000  # bytes per second while a WARC response trickles, so downloads either overlap or queue
# Queued downloads only drift further apart when the test server is slow, but overlapping
# ones may start up to ~2.4 s apart: the SQLite test server answers a busy moment with a
# 503, which Prefect's client retries after 2 s (with jitter). Their responses last longer.
QUEUED_S, OVERLAP_S = 1.0, 3.0


def drop_limit() -> None:
    with get_client(sync_client=True) as client:
        try:
            client.delete_global_concurrency_limit_by_name(LIMIT)
        except ObjectNotFound:
            pass


def server_limit() -> int | None:
    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(LIMIT).limit
        except ObjectNotFound:
            return None


@pytest.fixture(autouse=True)
def no_limit_on_server():
    """The Prefect test server is shared by the session and the server's limit wins over the
    config, so each test starts with none and leaves none behind for the next."""
    drop_limit()
    yield
    drop_limit()


@pytest.fixture
def slow_crawl(tmp_path, request):
    """Three WARC files whose GETs each last `trickle_s` (the test's parameter)."""
    trickle_s = request.param
    crawl = make_crawl(tmp_path / "cc", files=3, records=10, body_size=2000)
    with CrawlServer(crawl.root) as server:
        for path in crawl.paths:  # more than trickle_s worth at this rate: each GET lasts trickle_s
            assert len(crawl.bytes(path)) > RATE * trickle_s
            server.inject(path, Fault.slow(bytes_per_sec=RATE, max_seconds=trickle_s))
        yield crawl, server


def download(crawl, server, root, polite_limit: int):
    config = PipelineConfig.load(overrides={
        "storage.root": str(root),
        "crawl": {"crawl": "latest", "data_url": server.url, "index_url": f"{server.url}/collinfo.json"},
        # A thread per file: without the limit all three would be fetched at once.
        "download": {"selection": {}, "concurrency": 3, "polite_limit": polite_limit, "retries": 0},
    })
    state = run_pipeline(config, "download", "download", return_state=True)
    assert state.is_completed(), state.message
    return config, state.state_details.flow_run_id


def warc_gets(server) -> list[tuple[float, float]]:
    """(start, end) of each WARC GET, by the server's clock, in order of start."""
    gets = [r for r in server.requests if r.method == "GET" and r.path.endswith(".warc.gz")]
    return sorted((r.started, r.started + r.duration) for r in gets)


def most_at_once(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_, most = 0, 0
    for _, change in events:  # at equal times an end sorts first: touching is not overlapping
        open_ += change
        most = max(most, open_)
    return most


@pytest.mark.parametrize("slow_crawl", [QUEUED_S], indirect=True)
def test_limit_of_one_downloads_one_file_at_a_time(slow_crawl, tmp_path):
    crawl, server = slow_crawl
    config, _ = download(crawl, server, tmp_path / "store", polite_limit=1)
    spans = warc_gets(server)
    assert len(spans) == 3 and all(end - start >= 0.8 * QUEUED_S for start, end in spans)
    assert most_at_once(spans) == 1, f"downloads overlapped under a limit of 1: {spans}"
    assert server_limit() == 1
    with get_client(sync_client=True) as client:  # what `prefect concurrency-limit inspect fineflow:download` shows
        assert client.read_concurrency_limit_by_tag(POLITE_TAG).concurrency_limit == 1
    store = Store(config.storage)
    got = {}
    for output in store.outputs("download"):
        manifest = output.committed()
        with output.open(manifest.files[0].path) as f:
            got[manifest.shard] = f.read()
    assert got == {path: crawl.bytes(path) for path in crawl.paths}


@pytest.mark.parametrize("slow_crawl", [OVERLAP_S], indirect=True)
def test_limit_of_three_lets_downloads_overlap(slow_crawl, tmp_path):
    crawl, server = slow_crawl
    download(crawl, server, tmp_path / "store", polite_limit=3)
    assert server_limit() == 3
    spans = warc_gets(server)
    assert len(spans) == 3 and most_at_once(spans) >= 2, f"no overlap under a limit of 3: {spans}"


@pytest.mark.parametrize("slow_crawl", [OVERLAP_S], indirect=True)
def test_a_limit_already_on_the_server_wins_over_the_config(slow_crawl, tmp_path):
    crawl, server = slow_crawl
    with get_client(sync_client=True) as client:  # what `prefect concurrency-limit create fineflow:download 3` does
        client.create_concurrency_limit(tag=POLITE_TAG, concurrency_limit=3)
    _, run_id = download(crawl, server, tmp_path / "store", polite_limit=1)
    assert server_limit() == 3, "a flow run must not change the operator's limit"
    assert most_at_once(warc_gets(server)) >= 2, "the config's 1 was applied instead of the server's 3"


def test_ensure_tag_limit_reports_what_it_decides(caplog):
    logger = logging.getLogger("fineflow.test-limits")
    with caplog.at_level(logging.INFO, logger=logger.name):
        assert ensure_tag_limit(POLITE_TAG, 0, logger) is None  # 0: manage nothing
        assert server_limit() is None
        assert ensure_tag_limit(POLITE_TAG, 2, logger) == 2
        assert ensure_tag_limit(POLITE_TAG, 5, logger) == 2  # the server's value stands
        assert ensure_tag_limit(POLITE_TAG, 0, logger) == 2  # reported, not removed
    assert server_limit() == 2
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{LIMIT} is 2 on the server and 5 in the config; the server's 2 stands" in warning


def test_a_cached_rerun_does_not_wait_for_a_download_slot(tmp_path):
    """Downloads take their slot inside the work, after Prefect's cache check: while another
    run holds the only slot, a rerun whose downloads are all committed completes at once."""
    crawl = make_crawl(tmp_path / "cc", files=2, records=5)
    with CrawlServer(crawl.root) as server:
        download(crawl, server, tmp_path / "store", polite_limit=1)
        server.reset_log()
        with concurrency(LIMIT, occupy=1):  # another run's download, holding the only slot
            try:  # the command in its own process, so a rerun that waits is killed, not left hanging
                done = fineflow(PREFECT_API_URL.value(), "download", "--crawl", "latest", "--data-url", server.url,
                                "--index-url", f"{server.url}/collinfo.json", "--all", "--storage",
                                str(tmp_path / "store"), "--set", "download.polite_limit=1", timeout=90)
            except subprocess.TimeoutExpired:
                pytest.fail("the cached rerun waited for a download slot")
        assert done.returncode == 0, done.stderr[-3000:]
        assert warc_gets(server) == []
    states = task_states(newest_flow_run().id)
    assert {name: state for name, state in states.items() if name.startswith("download ")} == {
        f"download {path.rsplit('/', 1)[-1]}": "Cached" for path in crawl.paths}


def test_copies_from_a_file_mirror_take_no_slot(tmp_path):
    """A file:// crawl reaches no server: while another run holds the only slot, its
    downloads still complete, and a run creates no limit."""
    crawl = make_crawl(tmp_path / "cc", files=2, records=5)
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=POLITE_TAG, concurrency_limit=1)
    with concurrency(LIMIT, occupy=1, timeout_seconds=5):  # another run's download, holding the only slot
        try:  # in its own process, so a download that waits for the slot is killed, not left hanging
            done = fineflow(PREFECT_API_URL.value(), "download", "--crawl", "CC-MAIN-2099-01", "--data-url",
                            crawl.url, "--all", "--storage", str(tmp_path / "store"),
                            "--set", "download.polite_limit=1", timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("a download from a file:// mirror waited for a slot")
    assert done.returncode == 0, done.stderr[-3000:]
    states = task_states(newest_flow_run().id)
    assert {name: state for name, state in states.items() if name.startswith("download ")} == {
        f"download {path.rsplit('/', 1)[-1]}": "Completed" for path in crawl.paths}
    drop_limit()
    config = PipelineConfig.load(overrides={
        "storage.root": str(tmp_path / "store-2"), "crawl": {"crawl": "CC-MAIN-2099-01", "data_url": crawl.url},
        "download": {"selection": {}, "polite_limit": 1, "retries": 0}})
    assert run_pipeline(config, "download", "download", return_state=True).is_completed()
    assert server_limit() is None, "a run from a file:// mirror created the polite limit"
