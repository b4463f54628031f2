"""The download stage on its own (no Prefect): faults, verification, bad input."""

from __future__ import annotations

import gzip
import time

import pytest

from storage import OutputState, StorageConfig, Store
from tasks.download import DOWNLOAD, DownloadJob, DownloadVerificationError
from tasks.fetch import FetchSettings
from tasks.stage import PermanentError
from tests.crawlserver import Fault

FAST = FetchSettings(backoff_s=0.05, max_backoff_s=0.2, max_retries=4)


def job_for(crawl, data_url: str, store_root: str, index: int = 0, **kw) -> DownloadJob:
    return DownloadJob(storage=StorageConfig(root=store_root), shard=crawl.paths[index], crawl=crawl.crawl,
                       data_url=data_url, fetch=kw.pop("fetch", FAST), **kw)


def committed_bytes(job: DownloadJob) -> bytes:
    output = DOWNLOAD.output(job)
    assert output.state() == OutputState.COMMITTED
    with output.open(job.label) as f:
        return f.read()


def test_plain_download_is_byte_identical_and_counted(crawl, server, tmp_path):
    job = job_for(crawl, server.url, str(tmp_path / "store"))
    ref = DOWNLOAD.run(job)
    assert committed_bytes(job) == crawl.bytes(crawl.paths[0])
    assert ref.counts == {"bytes": len(crawl.bytes(crawl.paths[0])), "gzip_members": 40}
    assert not ref.reused and ref.files == [job.label]
    user_agents = {r.path for r in server.requests}
    assert user_agents  # the server saw our requests
    again = DOWNLOAD.run(job)
    assert again.reused and again.digest == ref.digest
    assert server.bytes_sent() == len(crawl.bytes(crawl.paths[0]))  # the rerun transferred nothing


def test_download_from_a_file_url(crawl, tmp_path):
    job = job_for(crawl, crawl.url, str(tmp_path / "store"), index=2)
    DOWNLOAD.run(job)
    assert committed_bytes(job) == crawl.bytes(crawl.paths[2])


def test_output_key_ignores_the_mirror(crawl, server, tmp_path):
    over_http = job_for(crawl, server.url, str(tmp_path))
    over_file = job_for(crawl, crawl.url, str(tmp_path), fetch=FetchSettings(read_timeout_s=5))
    assert DOWNLOAD.key(over_http) == DOWNLOAD.key(over_file)


@pytest.mark.parametrize("fault, requests_at_least", [
    (Fault.status(503, retry_after=1), 2),
    (Fault.status(500), 2),
    (Fault.reset(after_bytes=50_000), 2),
    (Fault.slow(bytes_per_sec=400_000, max_seconds=1.0), 1),
    (Fault.wrong_length(+500), 2),
    (Fault.wrong_length(-500), 2),
])
def test_each_fault_still_commits_a_byte_identical_file(crawl, server, tmp_path, fault, requests_at_least):
    path = crawl.paths[1]
    server.inject(path, fault)
    job = job_for(crawl, server.url, str(tmp_path / "store"), index=1)
    started = time.monotonic()
    DOWNLOAD.run(job)
    elapsed = time.monotonic() - started
    assert committed_bytes(job) == crawl.bytes(path)
    gets = [r for r in server.requests if r.path.endswith(path)]
    assert len(gets) >= requests_at_least
    assert gets[0].fault == fault.name
    if fault.name == "status" and fault.retry_after:
        assert elapsed >= 0.9, "Retry-After was not honoured"
    if fault.name == "reset":
        assert gets[1].range is not None and gets[1].range.startswith("bytes=") and gets[1].status == 206
    assert server.pending_faults() == 0


def test_repeated_resets_resume_each_time(crawl, server, tmp_path):
    path = crawl.paths[0]
    server.inject(path, Fault.reset(after_bytes=30_000), times=3)
    job = job_for(crawl, server.url, str(tmp_path / "store"))
    DOWNLOAD.run(job)
    assert committed_bytes(job) == crawl.bytes(path)
    ranges = [r.range for r in server.requests if r.path.endswith(path)]
    assert ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])
    # Each resume asks for later bytes than the one before: nothing is fetched twice in full.
    starts = [int(r.split("=")[1].rstrip("-")) for r in ranges[1:]]
    assert starts == sorted(starts) and starts[0] > 0
    assert server.bytes_sent(path) < 2 * len(crawl.bytes(path))


def test_404_is_permanent_and_leaves_no_data(crawl, server, tmp_path):
    server.inject(crawl.paths[0], Fault.status(404), times=5)
    job = job_for(crawl, server.url, str(tmp_path / "store"))
    with pytest.raises(PermanentError, match="404"):
        DOWNLOAD.run(job)
    output = DOWNLOAD.output(job)
    assert output.state() == OutputState.FAILED and "404" in output.read_failure().error
    assert Store(job.storage).listdir(output.dir) == ["_failed.json"]
    assert len([r for r in server.requests if r.path.endswith(crawl.paths[0])]) == 1  # not retried


def test_corrupt_source_is_never_committed(crawl, server, tmp_path):
    path = crawl.file(crawl.paths[0])
    path.write_bytes(path.read_bytes()[:-100])  # a truncated WARC on the server itself
    job = job_for(crawl, server.url, str(tmp_path / "store"))
    with pytest.raises(DownloadVerificationError, match="failed verification: truncated"):
        DOWNLOAD.run(job)
    output = DOWNLOAD.output(job)
    assert output.committed() is None and output.state() == OutputState.FAILED
    assert job.label not in Store(job.storage).listdir(output.dir)
    assert len([r for r in server.requests if r.path.endswith(crawl.paths[0])]) == 2  # verify_attempts


def test_not_gzip_source_is_never_committed(crawl, server, tmp_path):
    crawl.file(crawl.paths[0]).write_bytes(gzip.decompress(crawl.bytes(crawl.paths[0])))
    job = job_for(crawl, server.url, str(tmp_path / "store"), verify_attempts=1)
    with pytest.raises(DownloadVerificationError, match="corrupt"):
        DOWNLOAD.run(job)
    assert DOWNLOAD.output(job).committed() is None


def test_server_that_keeps_failing_gives_up_with_the_reason(crawl, server, tmp_path):
    server.inject(crawl.paths[0], Fault.status(503, retry_after=0), times=10)
    job = job_for(crawl, server.url, str(tmp_path / "store"),
                  fetch=FetchSettings(backoff_s=0.01, max_retries=2))
    with pytest.raises(Exception, match=r"giving up after 3 attempts; last error: HTTP 503"):
        DOWNLOAD.run(job)
