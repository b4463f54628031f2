"""How a flow runs its tasks: the process pool the CPU-bound stages run in (the flow run's
settings and one API client per worker, kept across task runs; a worker's exit without the
interpreter's teardown), and flow-run heartbeats."""

from __future__ import annotations

import contextvars
import gc
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict

import pytest
from prefect import flow, get_client, task
from prefect.context import SettingsContext, SyncClientContext
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from flows.config import PipelineConfig
from flows.runners import StageProcessPool, download_runner_for, enter_for_life, task_runner_for
from storage import Store
from tests.conftest import SAMPLE_CRAWL, SAMPLE_PATHS
from tests.crawlserver import CrawlServer, Fault
from tests.flowtools import newest_flow_run, task_states


@task(name="client-use")
def client_use(i: int) -> tuple[int, int, str, int, int, bool]:
    """(this worker's pid, how many task runs have used this task run's client, its API URL,
    how many objects the worker has frozen out of the garbage collector's way, how many
    settings contexts this worker's task runs have seen so far, whether distributed is
    imported)."""
    client = get_client(sync_client=True)
    uses = getattr(client, "fineflow_test_uses", 0) + 1
    client.fineflow_test_uses = uses
    # Kept on the worker's client (a module global here would be pickled with the task):
    # alive, so that their ids stay unique.
    seen = client.__dict__.setdefault("fineflow_test_settings", [])
    seen.append(SettingsContext.get())
    settings = len({id(context) for context in seen})
    return os.getpid(), uses, str(client.api_url), gc.get_freeze_count(), settings, "distributed" in sys.modules


@flow(name="client-uses")
def client_uses(n: int) -> list[tuple[int, int, str, int, int, bool]]:
    return [future.result() for future in [client_use.submit(i) for i in range(n)]]


@pytest.mark.usefixtures("prefect_api")
def test_pool_workers_keep_the_settings_and_one_client_across_task_runs():
    state = client_uses.with_options(task_runner=StageProcessPool(max_workers=2))(8, return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    by_worker: dict[int, list[int]] = defaultdict(list)
    for pid, uses, url, frozen, settings, distributed in results:
        by_worker[pid].append(uses)
        # The harness's server is set by temporary_settings, not in the environment: the
        # worker has it from the settings the flow run handed over.
        assert url.rstrip("/") == PREFECT_API_URL.value().rstrip("/")
        assert frozen > 50_000, "the worker was not prepared (tasks.worker.prepare_worker)"
        # Prefect alone rebuilds the settings for every task run in a worker.
        assert settings == 1, f"worker {pid} built {settings} settings contexts"
        # The flow's result storage is a block of Prefect's own: no collection is needed,
        # and prefect-dask's would import distributed in every worker.
        assert not distributed, f"worker {pid} loaded Prefect's collections"
    assert os.getpid() not in by_worker, "the tasks ran in the flow's process, not in the pool"
    # Eight task runs on two workers: some worker ran several, each on the client it had
    # already used (a client per task run would count 1 every time).
    assert max(len(uses) for uses in by_worker.values()) >= 2
    for pid, uses in by_worker.items():
        assert sorted(uses) == list(range(1, len(uses) + 1)), f"worker {pid}: {uses}"
    states = task_states(state.state_details.flow_run_id)
    assert len(states) == 8 and set(states.values()) == {"Completed"}, states


@task(name="leave-exit-work")
def leave_exit_work(folder: str, i: int) -> int:
    """What a library may leave for a worker's exit: an exit handler, registered after the
    worker started, which must still run."""
    import atexit
    from pathlib import Path

    from prefect import get_run_logger

    pid = os.getpid()
    atexit.register(Path(folder, f"atexit-{pid}").write_text, "ran")
    get_run_logger().warning("task %d in worker %d, its last words", i, pid)  # the tests log WARNING and up
    return pid


@flow(name="exit-work")
def exit_work(folder: str) -> list[int]:
    return [future.result() for future in [leave_exit_work.submit(folder, i) for i in range(2)]]


@pytest.mark.usefixtures("prefect_api")
def test_a_pool_worker_that_skips_the_teardown_still_runs_exit_handlers_and_delivers_its_logs(tmp_path):
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    state = exit_work.with_options(task_runner=StageProcessPool(max_workers=2))(str(tmp_path),
                                                                               return_state=True)
    assert state.is_completed(), state.message
    pids = set(state.result())
    assert os.getpid() not in pids
    # The flow run ends after its pool has shut down, so every worker has exited by now.
    assert {p.name for p in tmp_path.iterdir()} == {f"atexit-{pid}" for pid in pids}, "an exit handler was skipped"
    # What a task logged just before its worker exited reached the server.
    flow_run_id = state.state_details.flow_run_id
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        said = [log.message for log in logs if "its last words" in log.message]
        if len(said) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(said) == 2, said


EXIT_PROBE = """
import atexit, os, sys
from tasks.worker import exit_without_teardown
if {skip}:
    exit_without_teardown()
class Kept:
    def __del__(self, _write=os.write):
        _write(1, b" teardown")
sys.modules["__main__"].kept = Kept()  # freed only by the teardown
# Registered later, as a stage's library would; what it prints waits in stdout's buffer.
atexit.register(print, " handler", end="")
"""


@pytest.mark.parametrize("skip", [False, True])
def test_exit_without_teardown_runs_the_exit_handlers_flushes_and_skips_the_teardown(skip):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe: buffered
    out = subprocess.run([sys.executable, "-c", EXIT_PROBE.format(skip=skip)], capture_output=True, text=True,
                         timeout=120, check=True, env=env)
    # The control (skip False) shows the probe can see a teardown.
    assert out.stdout.split() == (["handler"] if skip else ["handler", "teardown"]), out


def test_a_worker_enters_the_settings_it_is_handed_but_keeps_no_client_without_a_reachable_api():
    def kept(url: str | None) -> tuple[SyncClientContext | None, str | None]:
        updates = {PREFECT_API_URL: url} if url else {}
        with temporary_settings(updates=updates, restore_defaults=set() if url else {PREFECT_API_URL}):
            handed = SettingsContext.get().serialize()
        enter_for_life(handed)
        return SyncClientContext.get(), PREFECT_API_URL.value()

    # No API URL: Prefect would start an ephemeral server per task run; nothing is kept.
    assert contextvars.copy_context().run(kept, None) == (None, None)
    # Port 9 (discard) is closed on loopback: the worker goes on with the settings it was
    # handed but without a shared client, rather than failing, which would break the pool.
    assert contextvars.copy_context().run(kept, "http://127.0.0.1:9/api") == (None, "http://127.0.0.1:9/api")


def test_a_prepared_worker_has_every_stage_imported_and_frozen_but_not_torch():
    # In a fresh process: freezing is for the life of the process, never this one's.
    probe = ("import gc, sys; from tasks.worker import STAGE_MODULES, prepare_worker; prepare_worker(); "
             "print(gc.get_freeze_count(), all(m in sys.modules for m in STAGE_MODULES), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    frozen, imported, torch = out.stdout.split()
    assert int(frozen) > 50_000 and imported == "True" and torch == "False", out.stdout


@pytest.mark.parametrize(("slugs", "loaded"), [(["local-file-system", "remote-file-system"], False),
                                               (["local-file-system", "s3-bucket"], True)])
def test_a_worker_loads_prefects_collections_only_for_a_block_prefect_does_not_have(slugs, loaded):
    # In a fresh process: which collections are loaded is for the life of the process.
    probe = ("import sys; from flows.runners import load_collections_for; "
             f"print(load_collections_for({slugs!r}), 'distributed' in sys.modules); "
             "from prefect.plugins import load_prefect_collections; "
             "print(sorted(load_prefect_collections()), 'distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    first, then = out.stdout.splitlines()
    # s3-bucket is prefect-aws's (not installed): the lookup needs every collection there is.
    assert first == f"{loaded} {loaded}", out.stdout
    # Either way Prefect asks no more: its cache says the collections are in.
    assert then == ("['prefect_dask'] True" if loaded else "[] False"), out.stdout


def test_the_pool_starts_at_its_first_submission_not_when_entered():
    before = set(threading.enumerate())
    with StageProcessPool(max_workers=2) as runner:
        # What Prefect enters in a worker around every task run: nothing may start there.
        assert runner._executor is None and not set(threading.enumerate()) - before


def process_started(pid: int) -> float:
    """When process `pid` started, wall clock."""
    ticks = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))


@task(name="slow-upstream")
def slow_upstream(seconds: float) -> float:
    time.sleep(seconds)
    return time.time()


@task(name="worker-start")
def worker_start(upstream_done: float) -> tuple[float, float]:
    """(when this pool worker's process started, when the upstream finished), wall clock."""
    return process_started(os.getpid()), upstream_done


@flow(name="behind-an-upstream")
def behind_an_upstream(seconds: float) -> list[tuple[float, float]]:
    # The upstream on threads of this process, as the pipeline runs its downloads.
    with ThreadPoolTaskRunner(max_workers=1) as threads:
        upstream = threads.submit(slow_upstream, {"seconds": seconds})
        return [future.result() for future in [worker_start.submit(upstream) for _ in range(2)]]


@pytest.mark.usefixtures("prefect_api")
def test_every_worker_starts_at_the_first_submission_not_when_its_task_run_is_ready():
    state = behind_an_upstream.with_options(task_runner=StageProcessPool(max_workers=2))(3.0, return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    for started, upstream_done in results:
        # Spawned as the task runs were submitted, then importing while the upstream slept.
        assert started < upstream_done - 2, f"a worker started {started - upstream_done:+.1f} s after its upstream"


def exit_codes(processes: list, timeout: float = 30.0) -> list[int | None]:
    """The exit codes of this process's children `processes` once all have ended, or after
    `timeout` s (None for one still running)."""
    deadline = time.monotonic() + timeout
    while any(p.exitcode is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p.exitcode for p in processes]


@task(name="worker-pid")
def worker_pid(i: int) -> int:
    return os.getpid()


@flow(name="worker-pids")
def worker_pids(n: int, fail: bool = False) -> list[int]:
    if fail:
        raise ValueError("failed before its first submission")
    return [future.result() for future in [worker_pid.submit(i) for i in range(n)]]


@pytest.mark.usefixtures("prefect_api")
def test_workers_spawned_early_run_the_flows_task_runs_and_end_with_it():
    runner = StageProcessPool(max_workers=2)
    with runner.spawned_early():
        processes = list(runner._early.executor._processes.values())
        spawned = {p.pid for p in processes}
        started = [process_started(pid) for pid in spawned]
        time.sleep(0.5)  # the engine's own start, longer
        state = worker_pids.with_options(task_runner=runner)(6, return_state=True)
    assert state.is_completed(), state.message
    # Those workers ran every task run (no other was spawned), all of them started first.
    assert len(spawned) == 2 and set(state.result()) <= spawned
    flow_run = newest_flow_run("worker-pids")
    assert max(started) < flow_run.start_time.timestamp()
    assert exit_codes(processes, timeout=5) == [0, 0]


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("how", ["no flow run", "a run that fails first"])
def test_workers_spawned_early_that_no_task_run_uses_end_on_their_own(how):
    runner = StageProcessPool(max_workers=2)
    started = time.monotonic()
    with runner.spawned_early():
        processes = list(runner._early.executor._processes.values())
        if how != "no flow run":
            state = worker_pids.with_options(task_runner=runner)(2, fail=True, return_state=True)
            assert state.is_failed() and "failed before its first submission" in state.message
    # The block does not wait for them to finish their imports; they then end by themselves,
    # cleanly (they still need this side's queues to start: exit status 1 if those are gone).
    if how == "no flow run":
        assert time.monotonic() - started < 1.0
    assert exit_codes(processes) == [0, 0]


def test_cpu_bound_stages_get_the_stage_process_pool():
    config = PipelineConfig.load(overrides={"runner": {"workers": 3}})
    runner = task_runner_for(config, "download", "train")
    assert isinstance(runner, StageProcessPool) and runner._max_workers == 3
    assert not isinstance(task_runner_for(config, "download", "download"), StageProcessPool)
    threads = PipelineConfig.load(overrides={"runner": {"kind": "threads"}})
    assert not isinstance(task_runner_for(threads, "extract", "filter"), StageProcessPool)


def test_downloads_get_threads_apart_from_the_flows_runner_unless_it_is_theirs_or_dask():
    config = PipelineConfig.load(overrides={"download": {"concurrency": 6}})
    apart = download_runner_for(config, "download", "train")
    assert isinstance(apart, ThreadPoolTaskRunner) and apart._max_workers == 6
    assert isinstance(download_runner_for(PipelineConfig.load(overrides={"runner": {"kind": "threads"}}),
                                          "download", "filter"), ThreadPoolTaskRunner)
    # a download-only run: the flow's own runner is these threads
    assert download_runner_for(config, "download", "download") is None
    assert task_runner_for(config, "download", "download")._max_workers == 6
    assert download_runner_for(config, "extract", "train") is None, "no downloads in the run"
    dask = PipelineConfig.load(overrides={"runner": {"kind": "dask", "workers": 2}})
    assert download_runner_for(dask, "download", "train") is None, "on Dask, downloads stay on the cluster"


@pytest.mark.usefixtures("prefect_api")
def test_downloads_run_on_threads_beside_the_process_pool(tmp_path):
    """With one process worker, the first file is extracted while the second is still
    downloading: downloads do not queue on the pool ahead of every extract."""
    from flows.pipeline import run_pipeline

    first, slow = SAMPLE_PATHS[:2]
    with CrawlServer(SAMPLE_CRAWL) as server:
        server.inject(slow, Fault.slow(20_000, max_seconds=8))
        config = PipelineConfig.load(overrides={
            "storage.root": str(tmp_path / "store"),
            "crawl": {"crawl": "latest", "data_url": server.url, "index_url": f"{server.url}/collinfo.json"},
            "download.selection": {"first": 2}, "runner": {"workers": 1, "retries": 0}})
        state = run_pipeline(config, "download", "extract", return_state=True)
    assert state.is_completed(), state.message
    shards = state.result().shards
    store = Store(config.storage)

    def manifest(stage: str, path: str):
        return store.output(stage, shards[path][stage].key).committed()

    download = manifest("download", slow)
    assert (download.finished_at - download.started_at).total_seconds() >= 7, "the slow fault did not apply"
    assert manifest("extract", first).started_at < download.finished_at, \
        "the first file's extract waited for the second file's download"


def heartbeats_of(flow_run_id) -> int:
    from prefect.events.filters import EventAnyResourceFilter, EventFilter, EventNameFilter

    events = EventFilter(event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                         any_resource=EventAnyResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]))
    with get_client(sync_client=True) as client:
        return len(client.read_events(filter=events, limit=10).events)


@pytest.mark.usefixtures("prefect_api")
def test_a_run_without_heartbeats_sends_none_and_one_with_them_does(tmp_path):
    from flows.cli import _run_flow, demo_config
    from flows.entrypoints import STAGE_FLOWS
    from flows.pipeline import run_pipeline

    runs = {}
    for heartbeats in (False, True):
        config = demo_config(str(tmp_path / str(heartbeats)), {"runner.heartbeats": heartbeats})
        state = run_pipeline(config, "download", "download", return_state=True)
        assert state.is_completed(), state.message
        runs[heartbeats] = state.state_details.flow_run_id
    # A stage command runs the stage's own flow around the pipeline subflow: both go without.
    config = demo_config(str(tmp_path / "stage"), {"runner.heartbeats": False})
    _run_flow(STAGE_FLOWS["download"], config)
    stage_run = newest_flow_run("fineflow-download").id
    # Prefect's sender emits one as the run starts; the server stores events as they come.
    deadline = time.monotonic() + 60
    while not heartbeats_of(runs[True]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert heartbeats_of(runs[True]) >= 1, "the run with heartbeats sent none"
    assert heartbeats_of(runs[False]) == 0
    assert heartbeats_of(stage_run) == 0, "the stage command's own flow run sent heartbeats"
    assert PipelineConfig().runner.heartbeats, "Prefect's default for runs that did not ask"
