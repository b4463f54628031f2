"""Task runners: which one a run gets, and the process pool the CPU-bound stages run in."""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.config import PipelineConfig
from tasks.worker import prepare_worker


class StageProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose workers are set up once for many task runs.

    Through the pool's `initializer`, each worker, before its first task run:
    - enters one API client that all its task runs use. Prefect's engine otherwise builds
      a new one for every task run a pool worker runs (with a TLS context loaded from the
      CA bundle even for an http:// API): about 50 ms of CPU per task run, half of what
      the engine costs a worker per run (bench/overhead.py). Prefect's `get_client`
      returns the client already in context. The address and credentials are the flow
      run's, read when the runner starts;
    - imports the stages and freezes what is alive out of the garbage collector's way
      (`tasks.worker.prepare_worker`).
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, initializer=start_worker)

    def __enter__(self) -> StageProcessPool:
        # Prefect enters a duplicate of the runner in the worker for every task run; the
        # duplicate carries these arguments, so only the flow's own runner reads settings.
        if not self._initargs:
            self._initargs = (api_address(),)
        return super().__enter__()


def _api_settings() -> list[Any]:
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

    return [PREFECT_API_URL, PREFECT_API_KEY, PREFECT_API_AUTH_STRING]


def api_address() -> dict[str, str]:
    """The current Prefect settings' API URL, key and auth string (those that are set)."""
    values = {setting.name: setting.value() for setting in _api_settings()}
    return {name: str(value) for name, value in values.items() if value}


def start_worker(address: dict[str, str]) -> None:
    """The pool's initializer: one API client for the worker's life, then the stages' modules."""
    keep_one_client(address)
    prepare_worker()


def keep_one_client(address: dict[str, str]) -> None:
    """In a pool worker, before its first task: enter an API client for the process's life.

    Without an API URL (Prefect would start an ephemeral server) or if the server cannot be
    reached now, nothing is entered and each task run builds its own client, as Prefect
    does by default: a worker that cannot start would break the whole pool.
    """
    from prefect.context import SyncClientContext
    from prefect.settings import temporary_settings

    if "PREFECT_API_URL" not in address:
        return
    try:
        updates = {setting: address[setting.name] for setting in _api_settings() if setting.name in address}
        with temporary_settings(updates=updates):
            SyncClientContext().__enter__()  # never exited: the process ends with the pool
    except Exception as exc:  # noqa: BLE001 - a fallback, not an error
        logging.getLogger("fineflow.runners").debug("pool worker keeps no shared client: %s", exc)


def task_runner_for(config: PipelineConfig, first: str, last: str) -> TaskRunner:
    """Downloads alone are network-bound: threads. Anything else: processes by default, or Dask.

    With kind "dask", an address means an existing cluster (its workers need fineflow
    installed); without one, a `distributed.LocalCluster` of single-threaded worker
    processes lives for the run. Callers that start one need an `if __name__ == "__main__":`
    guard in their script (the `fineflow` command and Prefect's workers have one).
    """
    runner = config.runner
    if runner.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if runner.dask_address:
            return DaskTaskRunner(address=runner.dask_address)
        workers = runner.workers or os.cpu_count() or 1
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": workers, "processes": True, "threads_per_worker": 1,
                                              "dashboard_address": None})
    if first == last == "download":
        return ThreadPoolTaskRunner(max_workers=config.download.concurrency)
    workers = runner.workers or os.cpu_count() or 1
    if runner.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    return StageProcessPool(max_workers=workers)
