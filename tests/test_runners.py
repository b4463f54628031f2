"""The process pool the CPU-bound stages run in: one API client per worker, kept across task runs."""

from __future__ import annotations

import contextvars
import gc
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from prefect import flow, get_client, task
from prefect.context import SyncClientContext
from prefect.settings import PREFECT_API_URL

from flows.config import PipelineConfig
from flows.runners import StageProcessPool, api_address, keep_one_client, task_runner_for
from tests.flowtools import task_states


@task(name="client-use")
def client_use(i: int) -> tuple[int, int, str, int]:
    """(this worker's pid, how many task runs have used this task run's client, its API URL,
    how many objects the worker has frozen out of the garbage collector's way)."""
    client = get_client(sync_client=True)
    uses = getattr(client, "fineflow_test_uses", 0) + 1
    client.fineflow_test_uses = uses
    return os.getpid(), uses, str(client.api_url), gc.get_freeze_count()


@flow(name="client-uses")
def client_uses(n: int) -> list[tuple[int, int, str, int]]:
    return [future.result() for future in [client_use.submit(i) for i in range(n)]]


@pytest.mark.usefixtures("prefect_api")
def test_pool_workers_keep_one_client_across_task_runs():
    state = client_uses.with_options(task_runner=StageProcessPool(max_workers=2))(8, return_state=True)
    assert state.is_completed(), state.message
    results = state.result()
    by_worker: dict[int, list[int]] = defaultdict(list)
    for pid, uses, url, frozen in results:
        by_worker[pid].append(uses)
        assert url.rstrip("/") == PREFECT_API_URL.value().rstrip("/")
        assert frozen > 50_000, "the worker was not prepared (tasks.worker.prepare_worker)"
    assert os.getpid() not in by_worker, "the tasks ran in the flow's process, not in the pool"
    # Eight task runs on two workers: some worker ran several, each on the client it had
    # already used (a client per task run would count 1 every time).
    assert max(len(uses) for uses in by_worker.values()) >= 2
    for pid, uses in by_worker.items():
        assert sorted(uses) == list(range(1, len(uses) + 1)), f"worker {pid}: {uses}"
    states = task_states(state.state_details.flow_run_id)
    assert len(states) == 8 and set(states.values()) == {"Completed"}, states


@pytest.mark.usefixtures("prefect_api")
def test_the_runner_passes_the_flow_runs_api_address_to_its_workers():
    address = api_address()
    assert address["PREFECT_API_URL"] == PREFECT_API_URL.value()
    runner = StageProcessPool(max_workers=1)
    with runner:
        # What Prefect's pool hands each worker's initializer, and what the duplicate
        # entered for every task run in a worker carries without reading settings again.
        assert runner._initargs == (address,)
        assert runner.duplicate()._initargs == (address,)


def test_a_worker_without_a_reachable_api_keeps_no_client():
    def kept(address: dict[str, str]):
        keep_one_client(address)
        return SyncClientContext.get()

    assert contextvars.copy_context().run(kept, {}) is None
    # Port 9 (discard) is closed on loopback: the worker goes on without a shared client
    # rather than failing, which would break the whole pool.
    assert contextvars.copy_context().run(kept, {"PREFECT_API_URL": "http://127.0.0.1:9/api"}) is None


def test_a_prepared_worker_has_every_stage_imported_and_frozen_but_not_torch():
    # In a fresh process: freezing is for the life of the process, never this one's.
    probe = ("import gc, sys; from tasks.worker import STAGE_MODULES, prepare_worker; prepare_worker(); "
             "print(gc.get_freeze_count(), all(m in sys.modules for m in STAGE_MODULES), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    frozen, imported, torch = out.stdout.split()
    assert int(frozen) > 50_000 and imported == "True" and torch == "False", out.stdout


def test_cpu_bound_stages_get_the_stage_process_pool():
    config = PipelineConfig.load(overrides={"runner": {"workers": 3}})
    runner = task_runner_for(config, "download", "train")
    assert isinstance(runner, StageProcessPool) and runner._max_workers == 3
    assert not isinstance(task_runner_for(config, "download", "download"), StageProcessPool)
    threads = PipelineConfig.load(overrides={"runner": {"kind": "threads"}})
    assert not isinstance(task_runner_for(threads, "extract", "filter"), StageProcessPool)
