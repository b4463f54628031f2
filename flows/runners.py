"""Task runners: which one a run gets, and the process pool the CPU-bound stages run in."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.config import PipelineConfig, RunnerSettings
from tasks.worker import exit_without_teardown, prepare_worker


class StageProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose workers are set up once for many task runs.

    Prefect ships the flow run's context with every task run, and a pool worker rebuilds
    all of it each time. Some of that is the same for the pool's whole life, so each
    worker, before its first task run, sets it up once (`start_worker`), through the
    pool's `initializer`:
    - the settings. Prefect serializes them once per runner and rebuilds the whole
      settings model from them for every task run in a worker: about 30 ms of CPU per task
      run, most of what the engine costs a worker (bench/overhead.py). The settings are
      serialized at the first submission, as Prefect serializes them for every task run
      (`serialize_context`), so they are exactly the ones it would have sent, and left out
      of every task run's context;
    - an API client. The engine otherwise builds a new one for every task run (with a TLS
      context loaded from the CA bundle even for an http:// API): about 50 ms of CPU.
      Prefect's `get_client` returns the client already in context;
    - Prefect's collections, only if a block in the context needs one
      (`load_collections_for`): otherwise prefect-dask's import of distributed is skipped.
    Then it imports the stages and freezes what is alive out of the garbage collector's
    way (`tasks.worker.prepare_worker`). A worker ends without the interpreter's teardown
    (`tasks.worker.exit_without_teardown`), which the pool's shutdown would wait for.

    The pool's machinery (a message queue and its thread, the executor, the resolver
    threads) starts at the first submission, not when the runner is entered: Prefect
    enters a duplicate of the runner in the worker around every task run, never submits
    to it, and building and tearing all that down cost a worker about 6 ms per task run.
    All the workers are spawned then (`_start`), so they import while upstream work runs.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers, initializer=start_worker)

    def __enter__(self) -> StageProcessPool:
        # Filled at the first submission, before any worker is spawned, and handed to each.
        self._worker_setup: dict[str, Any] = {}
        self._initargs = (self._worker_setup,)
        # Made here, not in __init__: a flow's runner is pickled with it, a lock cannot be.
        self._start_lock = threading.Lock()
        TaskRunner.__enter__(self)
        return self

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        if self._started:  # if not, Prefect's submit says so
            with self._start_lock:
                if self._executor is None:
                    self._start()
        return super().submit(*args, **kwargs)

    def _start(self) -> None:
        """Prefect's own start, then every worker spawned at once.

        The executor would spawn a worker only as a task run reaches it, after the task
        run's upstream futures are done: behind the downloads for the first extracts. A
        worker spends over a second importing the stages before its first task run, and
        that can happen while the upstream work runs.
        """
        from prefect.context import serialize_context

        # What Prefect serializes for every submission of the runner's life (its submit
        # caches it too); the settings go to the workers once, here.
        context = serialize_context()
        self._worker_setup.update(settings_context=context.get("settings_context") or {},
                                  block_types=sorted(block_types(context.get("flow_run_context"))))
        # Prefect's start marks the runner started, and refuses to if it already is.
        self._started = False
        super().__enter__()
        # The executor spawns one worker per submission while none is idle: a no-op each.
        for _ in range(self._max_workers):
            self._executor.submit(os.getpid)

    def _resolve_futures_and_submit(self, *args: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        # Prefect 3.8's private step between a submission and the executor (Prefect is pinned
        # below 3.9; tests/test_runners.py fails if workers rebuild settings again): every
        # task run's context goes without the settings, which the workers already hold.
        return super()._resolve_futures_and_submit(*args, context={**context, "settings_context": {}}, **kwargs)


def block_types(serialized: Any) -> set[str]:
    """The slugs of the blocks in a serialized context: what a worker rebuilds from it."""
    if isinstance(serialized, dict):
        found = {serialized["block_type_slug"]} if isinstance(serialized.get("block_type_slug"), str) else set()
        return found.union(*(block_types(value) for value in serialized.values()))
    if isinstance(serialized, (list, tuple)):
        return set().union(*(block_types(value) for value in serialized))
    return set()


def start_worker(setup: dict[str, Any]) -> None:
    """The pool's initializer: the flow run's settings and one API client for the worker's
    life, Prefect's collections if the run needs them, then the stages' modules. At the
    end of its life the worker skips the interpreter's teardown (registered first, to run
    after every other exit handler)."""
    exit_without_teardown()
    enter_for_life(setup.get("settings_context") or {})
    load_collections_for(setup.get("block_types", ()))
    prepare_worker()


def load_collections_for(slugs: Iterable[str]) -> bool:
    """In a pool worker: load Prefect's collections only if a block the task runs' context
    holds is not one of Prefect's own; True if they were loaded.

    Prefect loads every installed collection before it looks up any block class, and a
    worker looks one up in every task run: the flow's result storage, validated again as
    the flow run's context is rebuilt. That is a `local-file-system` or
    `remote-file-system` block unless a default storage block from a collection is set
    (on the server or in the settings). The only collection fineflow installs,
    prefect-dask, imports distributed: 0.22 s and 0.33 CPU-s per worker, on the critical
    path of the first stages. When every slug resolves to a class already registered,
    Prefect is told its collections are loaded (a private cache of Prefect 3.8's, pinned;
    tests/test_runners.py checks that a worker does not import distributed).
    """
    from prefect._internal.plugins import collections
    from prefect.blocks.core import Block
    from prefect.plugins import load_prefect_collections
    from prefect.utilities.dispatch import lookup_type

    try:
        for slug in slugs:
            lookup_type(Block, slug)
    except KeyError:
        load_prefect_collections()
        return True
    if getattr(collections, "_collections", None) is None:
        collections._collections = {}
    return False


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


def download_runner_for(config: PipelineConfig, first: str, last: str) -> ThreadPoolTaskRunner | None:
    """The runner a run's downloads get apart from the flow's (`task_runner_for`), or None
    when they go on the flow's: a download-only run, whose runner is already these threads,
    and Dask, where downloads stay on the cluster, whose machines have the bandwidth.
    Otherwise: `download.concurrency` threads in the flow's own process, beside the workers
    of the CPU-bound stages.

    A download waits on the network, so it should not hold a CPU worker. On the flow's
    runner it would, and worse: that runner takes work in the order it was submitted, and
    every file's download is submitted before any extract, so every download would finish
    before the first extract started, with the workers fetching while the cores idled. On
    threads of their own, files are fetched while the workers extract the ones already
    there (and while the pool's processes start). Verifying a download decompresses it,
    which python-isal does outside the GIL.
    """
    if first != "download" or last == "download" or config.runner.kind == "dask":
        return None
    return _download_threads(config)


def _download_threads(config: PipelineConfig) -> ThreadPoolTaskRunner:
    return ThreadPoolTaskRunner(max_workers=config.download.concurrency)


def task_runner_for(config: PipelineConfig, first: str, last: str) -> TaskRunner:
    """The flow's runner: threads for a download-only run; for any other, processes by
    default, or Dask. A run that downloads and goes on still downloads on threads, unless
    on Dask (`download_runner_for`).

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
        return _download_threads(config)
    workers = runner.workers or os.cpu_count() or 1
    if runner.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    return StageProcessPool(max_workers=workers)
