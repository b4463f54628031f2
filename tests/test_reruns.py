"""`fineflow demo` and the rerun matrix of the whole pipeline, each case against a real
`prefect server start`.

The demo (download..train on the sample crawl's three WARC files, served by the loopback
crawl server, a few training steps) runs once per module; each case works on its own copy
of its storage root, runs the `fineflow` command (or a served deployment) against the
server, and reads the flow and task run states back from the server's API.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect import get_client
from prefect.states import AwaitingRetry

from storage import StorageConfig, Store
from storage.status import collect_status
from tests.conftest import SAMPLE_CRAWL, SAMPLE_PATHS
from tests.crawlserver import CrawlServer, Fault
from tests.flowtools import REPO, fineflow, newest_flow_run, on_server, stop, task_states, wait_final

pytestmark = pytest.mark.server

WARCS = [p.rsplit("/", 1)[-1] for p in SAMPLE_PATHS]
# The demo's own settings (so `run` finds the demo's outputs), a few training steps, and
# no retries: a case that fails a task means to, and must not wait out the backoff.
DEMO = ["tokenizer.vocab_size=4096", "tokenize.validation_fraction=0.1"]
SETTINGS = ["train.steps=8", "train.eval_every=4", "train.checkpoint_every=4", "runner.retries=0",
            "download.retries=0"]
PER_SHARD = ("download", "extract", "filter", "dedup-signatures", "dedup", "tokenize")
RUN_WIDE = ("dedup-clusters", "tokenizer", "train")


@pytest.fixture(scope="module")
def crawl_server():
    with CrawlServer(SAMPLE_CRAWL) as server:
        yield server


def sets(*settings: str) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


def run_args(server: CrawlServer, root: Path, *extra: str) -> list[str]:
    return ["run", "--crawl", "latest", "--data-url", server.url, "--index-url", f"{server.url}/collinfo.json",
            "--all", "--storage", str(root), *sets(*DEMO, *SETTINGS), *extra]


def demo_args(server: CrawlServer, root: Path) -> list[str]:
    return ["demo", "--storage", str(root),
            *sets(f"crawl.data_url={server.url}", f"crawl.index_url={server.url}/collinfo.json", *SETTINGS)]


def run_ok(api: str, server: CrawlServer, root: Path, *extra: str):
    done = fineflow(api, *run_args(server, root, *extra))
    assert done.returncode == 0, done.stderr[-3000:]
    return newest_flow_run()


def stage_states(flow_run_id) -> dict[tuple[str, str], str]:
    """(stage, WARC file or run-wide name) -> final state name of its task run."""
    return {tuple(name.split(" ", 1)): state for name, state in task_states(flow_run_id).items()
            if name.split(" ", 1)[0] in PER_SHARD + RUN_WIDE}


def manifests(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.glob("*/*/_manifest.json")}


def output_of(root: Path, stage: str, warc: str) -> Path:
    """The committed output folder of `stage` for one WARC file."""
    store = Store(StorageConfig(root=str(root)))
    found = [o for o in store.outputs(stage) if (m := o.committed()) and m.shard.endswith(warc)]
    assert len(found) == 1, f"{stage} {warc}: {found}"
    return root / found[0].dir


@pytest.fixture(scope="module")
def full_run(prefect_server, crawl_server, tmp_path_factory) -> tuple[Path, str]:
    """The storage root of `fineflow demo`, a complete run of every stage, and what it printed."""
    root = tmp_path_factory.mktemp("demo")
    done = fineflow(prefect_server, *demo_args(crawl_server, root))
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done.stdout


@pytest.fixture
def copy_of_full_run(full_run, tmp_path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(full_run[0], root)
    return root


def test_demo_runs_every_stage_on_the_sample_crawl(prefect_server, full_run):
    root, out = full_run
    assert "21 outputs committed" in out
    for line in ("extract   read", "filter    rejected:language", "dedup     rejected:exact_duplicate",
                 "stage=tokenize", "stage=train", "sample from the trained model (8 steps)"):
        assert line in out
    for path in SAMPLE_PATHS:
        name = path.rsplit("/", 1)[-1]
        assert (output_of(root, "download", name) / name).read_bytes() == (SAMPLE_CRAWL / path).read_bytes()
    assert len(list(root.glob("dedup/*/documents-00000.parquet"))) == 3
    with on_server(prefect_server):
        run = newest_flow_run()
        states = stage_states(run.id)
    assert run.state.name == "Completed"
    assert len(states) == len(PER_SHARD) * 3 + len(RUN_WIDE) and set(states.values()) == {"Completed"}, states


def test_unchanged_rerun_is_all_cached(prefect_server, crawl_server, copy_of_full_run):
    before = manifests(copy_of_full_run)
    crawl_server.reset_log()
    started = time.monotonic()
    done = fineflow(prefect_server, *demo_args(crawl_server, copy_of_full_run))
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"all-cached rerun of the demo: {time.monotonic() - started:.1f} s including process start")
    assert done.stdout.count("(already in storage)") == 5  # 3 tokenize shards, tokenizer, train
    with on_server(prefect_server):
        run = newest_flow_run()
        states = stage_states(run.id)
    assert run.state.name == "Completed"
    assert len(states) == len(PER_SHARD) * 3 + len(RUN_WIDE) and set(states.values()) == {"Cached"}, states
    assert crawl_server.bytes_sent() == 0
    assert manifests(copy_of_full_run) == before


def test_deleted_output_recomputes_only_that_shards_chain(prefect_server, crawl_server, copy_of_full_run):
    gone = output_of(copy_of_full_run, "download", WARCS[1])
    shutil.rmtree(gone)
    crawl_server.reset_log()
    with on_server(prefect_server):
        states = stage_states(run_ok(prefect_server, crawl_server, copy_of_full_run).id)
    assert states.pop(("download", WARCS[1])) == "Completed"
    # The new download is the same bytes, so what reads it is found in the cache.
    assert set(states.values()) == {"Cached"}, states
    assert (gone / "_manifest.json").exists()
    assert crawl_server.bytes_sent() == (SAMPLE_CRAWL / SAMPLE_PATHS[1]).stat().st_size


def test_changed_filter_setting_recomputes_filter_and_everything_after(prefect_server, crawl_server,
                                                                       copy_of_full_run):
    with on_server(prefect_server):
        run = run_ok(prefect_server, crawl_server, copy_of_full_run, "--set", "filter.language.threshold=0.9")
        states = stage_states(run.id)
    for (stage, _), state in states.items():
        assert state == ("Cached" if stage in ("download", "extract") else "Completed"), states


def _break_documents(root: Path, warc: str) -> tuple[Path, bytes]:
    """Overwrite the end of one shard's extract output, keeping its size: the manifest still
    vouches for it, and filter, which reads it, fails on that shard alone."""
    [documents] = output_of(root, "extract", warc).glob("documents-*.parquet")
    original = documents.read_bytes()
    documents.write_bytes(original[:-8] + b"\0" * 8)
    return documents, original


def test_failed_shard_fails_the_run_by_name_and_a_rerun_recomputes_only_it(prefect_server, crawl_server,
                                                                           copy_of_full_run):
    root = copy_of_full_run
    broken, original = _break_documents(root, WARCS[2])
    stricter = ["--set", "filter.language.threshold=0.9", "--until", "filter"]
    failed = fineflow(prefect_server, *run_args(crawl_server, root, *stricter))
    assert failed.returncode == 1
    assert f"1 of 3 WARC files failed: {WARCS[2]}: filter failed" in failed.stderr
    with on_server(prefect_server):
        run = newest_flow_run()
        states = stage_states(run.id)
    assert run.state.name == "Failed" and WARCS[2] in run.state.message
    assert states[("filter", WARCS[2])] == "Failed"
    assert {w: states[("filter", w)] for w in WARCS[:2]} == dict.fromkeys(WARCS[:2], "Completed")
    assert {s for (stage, _), s in states.items() if stage in ("download", "extract")} == {"Cached"}

    broken.write_bytes(original)
    with on_server(prefect_server):
        states = stage_states(run_ok(prefect_server, crawl_server, root, *stricter).id)
    assert states.pop(("filter", WARCS[2])) == "Completed"
    assert set(states.values()) == {"Cached"}, states


def test_retry_of_the_failed_flow_run_through_the_api_recomputes_only_the_failed_shard(
        prefect_server, crawl_server, copy_of_full_run, tmp_path):
    """The UI's Retry button: the same flow run goes back to Scheduled (AwaitingRetry), and
    the process serving its deployment runs it again."""
    root = copy_of_full_run
    broken, original = _break_documents(root, WARCS[0])
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    args = [sys.executable, "-m", "flows.cli", "serve", "--only", "stage-filter", "--storage", str(root),
            "--data-url", crawl_server.url, "--index-url", f"{crawl_server.url}/collinfo.json", "--max-warcs", "3",
            *sets(*DEMO, *SETTINGS, "filter.language.threshold=0.9")]
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log, on_server(prefect_server):
        serving = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            with get_client(sync_client=True) as client:
                deployment = _wait_for_deployment(client, "fineflow-filter/stage-filter", serving, log_path)
                run = client.create_flow_run_from_deployment(deployment.id)
                failed = wait_final(run.id, timeout=240, log=log_path)
                assert failed.state.name == "Failed", failed.state
                committed_before = manifests(root)

                broken.write_bytes(original)
                client.set_flow_run_state(run.id, AwaitingRetry(message="Retry from the API"))
                retried = _wait_rerun(client, run.id, failed.run_count, log_path)
        finally:
            stop(serving)
    assert retried.state.name == "Completed", f"{retried.state}: {log_path.read_text()[-3000:]}"
    new = {name for name, data in manifests(root).items() if committed_before.get(name) != data}
    assert [name.split("/")[0] for name in new] == ["filter"]
    assert Store(StorageConfig(root=str(root))).output("filter", new.pop().split("/")[1]).committed().shard \
        == SAMPLE_PATHS[0]


def _wait_for_deployment(client, name: str, serving: subprocess.Popen, log_path: Path):
    deadline = time.monotonic() + 120
    while True:
        try:
            return client.read_deployment_by_name(name)
        except Exception:  # noqa: BLE001 - not registered yet
            assert serving.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"serve did not register {name}: {log_path.read_text()[-3000:]}"
            time.sleep(0.5)


def _wait_rerun(client, flow_run_id, runs_before: int, log_path: Path, timeout: float = 240):
    """The flow run once it has run again and reached a final state."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(flow_run_id)
        if run.run_count > runs_before and run.state is not None and run.state.is_final():
            return run
        assert time.monotonic() < deadline, f"no rerun, state {run.state}: {log_path.read_text()[-3000:]}"
        time.sleep(1)


def test_sigkill_in_the_middle_of_a_stage_leaves_nothing_committed_and_the_next_run_completes(
        prefect_server, crawl_server, tmp_path):
    root = tmp_path / "store"
    for path in SAMPLE_PATHS:  # ~20 s a file: the downloads are mid-transfer for a while
        crawl_server.inject(path, Fault.slow(20_000, max_seconds=120))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", *run_args(crawl_server, root, "--until", "download")],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        partial = _wait_for_partial_download(root, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    crawl_server.clear_faults()

    store = Store(StorageConfig(root=str(root)))
    assert not (partial.parent / "_manifest.json").exists()
    assert partial.stat().st_size < (SAMPLE_CRAWL / _path_of(partial.name)).stat().st_size
    assert [r for r in collect_status(store) if r.state.value == "committed"] == []

    with on_server(prefect_server):
        run = run_ok(prefect_server, crawl_server, root, "--until", "download")
    assert run.state.name == "Completed"
    committed = [r for r in collect_status(store) if r.state.value == "committed"]
    assert sorted((r.stage, r.shard) for r in committed) == [("download", path) for path in sorted(SAMPLE_PATHS)]
    for path in SAMPLE_PATHS:
        name = path.rsplit("/", 1)[-1]
        assert (output_of(root, "download", name) / name).read_bytes() == (SAMPLE_CRAWL / path).read_bytes()


def _path_of(warc: str) -> str:
    return next(p for p in SAMPLE_PATHS if p.endswith(warc))


def _wait_for_partial_download(root: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    """A WARC file part-written into a download output, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        for warc in (root / "download").glob("*/*.warc.gz"):
            if warc.stat().st_size > 50_000:
                return warc
        assert proc.poll() is None, "fineflow ended before any download was half-way"
        assert time.monotonic() < deadline, "no download started"
        time.sleep(0.2)
