"""The download flow through Prefect: caching across runs, partial reruns, failures, S3."""

from __future__ import annotations

import pytest

from flows.config import PipelineConfig
from flows.pipeline import make_job, run_pipeline
from storage import OutputState, Store
from tasks.download import DOWNLOAD
from tests.conftest import make_crawl
from tests.crawlserver import Fault
from tests.flowtools import download_states, task_states

pytestmark = pytest.mark.usefixtures("prefect_api")


def config_for(server, crawl, storage: dict, **download) -> PipelineConfig:
    return PipelineConfig.load(overrides={
        "storage": storage,
        "crawl": {"crawl": "latest", "data_url": server.url, "index_url": f"{server.url}/collinfo.json"},
        "download": {"selection": {}, "concurrency": 2, "retries": 1, "retry_delay_s": 0.1,
                     "fetch": {"backoff_s": 0.05, "max_retries": 3}, **download},
    })


def run(config):
    state = run_pipeline(config, "download", "download", return_state=True)
    return state, state.state_details.flow_run_id


def committed(store: Store, crawl) -> dict[str, bytes]:
    out = {}
    for output in store.outputs("download"):
        manifest = output.committed()
        if manifest is not None:
            with output.open(manifest.files[0].path) as f:
                out[manifest.shard] = f.read()
    return out


def test_cache_record_without_committed_output_is_a_miss(crawl, server, tmp_path):
    """The manifest alone removed (the output damaged): Prefect must not return the stale record."""
    config = config_for(server, crawl, {"root": str(tmp_path / "store")})
    run(config)
    store = Store(config.storage)
    output = DOWNLOAD.output(_job(config, crawl, crawl.paths[0]))
    store.rm(f"{output.dir}/_manifest.json")
    server.reset_log()
    state, run_id = run(config)
    assert state.is_completed()
    assert download_states(run_id)[crawl.paths[0].rsplit("/", 1)[-1]] == "Completed"
    assert output.state() == OutputState.COMMITTED


def test_one_missing_warc_fails_the_flow_by_name_and_the_others_complete(crawl, server, tmp_path):
    config = config_for(server, crawl, {"root": str(tmp_path / "store")}, retries=2)
    missing = crawl.paths[2]
    server.inject(missing, Fault.status(404), times=10)
    state, run_id = run(config)
    assert state.is_failed()
    with pytest.raises(Exception, match=rf"1 of 3 WARC files failed: {missing.rsplit('/', 1)[-1]}: download failed: .*404"):
        state.result()
    store = Store(config.storage)
    assert set(committed(store, crawl)) == set(crawl.paths[:2])
    assert len([r for r in server.requests if r.path.endswith(missing)]) == 1  # permanent: no retries
    assert DOWNLOAD.output(_job(config, crawl, missing)).state() == OutputState.FAILED

    server.clear_faults()
    server.reset_log()
    state, run_id = run(config)
    assert state.is_completed()
    assert server.bytes_sent() == len(crawl.bytes(missing))


def test_unknown_crawl_fails_before_anything_is_written(crawl, server, tmp_path):
    config = config_for(server, crawl, {"root": str(tmp_path / "store")})
    config.crawl.crawl = "CC-MAIN-1999-01"
    state, _ = run(config)
    assert state.is_failed()
    with pytest.raises(Exception, match="unknown crawl 'CC-MAIN-1999-01'"):
        state.result()
    assert not (tmp_path / "store").exists() or Store(config.storage).stages() == []


def test_s3_storage_root_caches_and_reruns_like_local(crawl, server, s3_endpoint, s3_bucket):
    storage = {"root": f"s3://{s3_bucket}/runs/a", "endpoint_url": s3_endpoint}
    config = config_for(server, crawl, storage)
    state, run_id = run(config)
    assert state.is_completed()
    store = Store(config.storage)
    assert committed(store, crawl) == {p: crawl.bytes(p) for p in crawl.paths}
    assert any(name.startswith("download-") for name in store.listdir("_prefect/results"))

    server.reset_log()
    state, run_id = run(config)
    assert set(download_states(run_id).values()) == {"Cached"} and server.bytes_sent() == 0

    victim = crawl.paths[0]
    store.rm(DOWNLOAD.output(_job(config, crawl, victim)).dir, recursive=True)
    server.reset_log()
    state, run_id = run(config)
    assert state.is_completed()
    assert server.bytes_sent() == len(crawl.bytes(victim))
    assert committed(store, crawl)[victim] == crawl.bytes(victim)


def test_s3_multipart_upload_of_a_large_warc(tmp_path, s3_endpoint, s3_bucket):
    import boto3

    from tests.crawlserver import CrawlServer

    big = make_crawl(tmp_path / "big", files=1, records=160, body_size=100_000)  # ~12 MB
    size = len(big.bytes(big.paths[0]))
    assert size > 2 * 5 * 2**20
    with CrawlServer(big.root) as srv:
        srv.inject(big.paths[0], Fault.reset(after_bytes=7 * 2**20))
        config = config_for(srv, big, {"root": f"s3://{s3_bucket}/big", "endpoint_url": s3_endpoint,
                                       "block_size": 5 * 2**20})
        state, _ = run(config)
    assert state.is_completed()
    store = Store(config.storage)
    assert committed(store, big) == {big.paths[0]: big.bytes(big.paths[0])}
    output = DOWNLOAD.output(_job(config, big, big.paths[0]))
    head = boto3.client("s3", endpoint_url=s3_endpoint).head_object(
        Bucket=s3_bucket, Key=f"big/{output.dir}/{big.paths[0].rsplit('/', 1)[-1]}")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-3"), "expected a 3-part multipart upload"


def _job(config, crawl, path):
    return make_job("download", config, crawl.crawl, path)


def test_the_process_pool_runs_stages_on_an_s3_root_and_their_rerun_is_cached(crawl, server, s3_endpoint, s3_bucket):
    # Extract runs in the pool's workers, where the task's result storage is a saved
    # remote-file-system block, loaded by name: a block of Prefect's own, found without
    # Prefect's collections (flows.runners.load_collections_for).
    storage = {"root": f"s3://{s3_bucket}/runs/pool", "endpoint_url": s3_endpoint}
    config = config_for(server, crawl, storage, selection={"first": 1})
    config.runner.workers = 1
    state = run_pipeline(config, "download", "extract", return_state=True)
    assert state.is_completed(), state.message
    store = Store(config.storage)
    assert [o.committed().shard for o in store.outputs("extract")] == crawl.paths[:1]
    assert any(name.startswith("extract-") for name in store.listdir("_prefect/results"))

    state = run_pipeline(config, "download", "extract", return_state=True)
    states = task_states(state.state_details.flow_run_id)
    stages = {name.split()[0]: s for name, s in states.items() if name.split()[0] in ("download", "extract")}
    assert stages == {"download": "Cached", "extract": "Cached"}, states
