"""Task runners: which one a run gets, and the process pool the CPU-bound stages run in."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.config import PipelineConfig, RunnerSettings
from tasks.worker import prepare_worker


class StageProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose workers are set up once for many task runs.

    Prefect ships the flow run's context with every task run, and a pool worker rebuilds
    all of it each time. Two parts of it are the same for the pool's whole life, so each
    worker, before its first task run, enters them once (`start_worker`), through the
    pool's `initializer`:
    - the settings. Prefect serializes them once per runner and rebuilds the whole
      settings model from them for every task run in a worker: about 30 ms of CPU per task
      run, most of what the engine costs a worker (bench/overhead.py). The settings are
      taken from the context of the first task run submitted, so they are exactly the ones
      Prefect would have sent, and left out of every task run's context;
    - an API client. The engine otherwise builds a new one for every task run (with a TLS
      context loaded from the CA bundle even for an http:// API): about 50 ms of CPU.
      Prefect's `get_client` returns the client already in context.
    Then it imports the stages and freezes what is alive out of the garbage collector's
    way (`tasks.worker.prepare_worker`).
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, initializer=start_worker)

    def __enter__(self) -> StageProcessPool:
        # Filled at the first submission, before the executor spawns its first worker (it
        # spawns them as task runs arrive), and handed to every worker it spawns. Prefect
        # enters a duplicate of the runner in the worker for every task run: that one is
        # never submitted to and stays empty, so entering it costs nothing.
        self._worker_setup: dict[str, Any] = {}
        self._initargs = (self._worker_setup,)
        return super().__enter__()

    def _resolve_futures_and_submit(self, *args: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        # Prefect 3.8's private step between a submission and the executor (Prefect is pinned
        # below 3.9; tests/test_runners.py fails if workers rebuild settings again). It runs
        # in the runner's resolver threads; `setdefault` keeps the first one's.
        self._worker_setup.setdefault("settings_context", context.get("settings_context") or {})
        return super()._resolve_futures_and_submit(*args, context={**context, "settings_context": {}}, **kwargs)


def start_worker(setup: dict[str, Any]) -> None:
    """The pool's initializer: the flow run's settings and one API client for the worker's
    life, then the stages' modules.

    Prefect's collections (prefect-dask, which imports distributed) are loaded here rather
    than in the first task run, where Prefect loads them anyway, so that they are frozen too.
    """
    from prefect.plugins import load_prefect_collections

    enter_for_life(setup.get("settings_context") or {})
    load_prefect_collections()
    prepare_worker()


def enter_for_life(settings_context: dict[str, Any]) -> None:
    """In a pool worker, before its first task run: enter the flow run's settings (as
    serialized by Prefect) and an API client, for the process's life (never exited: the
    process ends with the pool).

    Without an API URL (Prefect would start an ephemeral server) or if the server cannot be
    reached now, no client is entered and each task run builds its own, as Prefect does by
    default: a worker that cannot start would break the whole pool.
    """
    from prefect.context import SettingsContext, SyncClientContext
    from prefect.settings import get_current_settings

    if settings_context:
        SettingsContext(**settings_context).__enter__()
    if not get_current_settings().api.url:
        return
    try:
        SyncClientContext().__enter__()
    except Exception as exc:  # noqa: BLE001 - a fallback, not an error
        logging.getLogger("fineflow.runners").debug("pool worker keeps no shared client: %s", exc)


@contextmanager
def flow_run_settings(runner: RunnerSettings) -> Iterator[None]:
    """Prefect settings for the flow runs started in this block.

    Without heartbeats: Prefect's sender sleeps in 1 s steps and the engine joins it at the
    end of every flow run, so each run ends up to 1 s late (half a second on average, a
    share of the demo's run that bench/overhead.py sees).
    """
    if runner.heartbeats:
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


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
