"""Task runners: which one a run gets, and the process pool the CPU-bound stages run in."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.queues import Queue
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.config import PipelineConfig, RunnerSettings
from tasks.worker import exit_without_teardown, prepare_worker


class StageProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose workers are set up once for many task runs, and can
    be spawned before the flow run that uses them exists (`spawned_early`).

    Prefect ships the flow run's context with every task run, and a pool worker rebuilds
    all of it each time. Some of that is the same for the pool's whole life, so each
    worker, before its first task run, sets it up once (`start_worker`, the pool's
    initializer): it imports the stages, then waits for the flow run's setup, handed to
    every worker at the first submission (`PoolWorkers.hand`):
    - the settings. Prefect serializes them once per runner and rebuilds the whole
      settings model from them for every task run in a worker: about 30 ms of CPU per task
      run, most of what the engine costs a worker (bench/overhead.py). They are serialized
      at the first submission, as Prefect serializes them for every task run
      (`serialize_context`), so they are exactly the ones it would have sent, and left out
      of every task run's context;
    - an API client. The engine otherwise builds a new one for every task run (with a TLS
      context loaded from the CA bundle even for an http:// API): about 50 ms of CPU.
      Prefect's `get_client` returns the client already in context;
    - Prefect's collections, only if a block in the context needs one
      (`load_collections_for`): otherwise prefect-dask's import of distributed is skipped.
    A worker ends without the interpreter's teardown (`tasks.worker.exit_without_teardown`),
    which the pool's shutdown would wait for.

    The pool's machinery (a message queue and its thread, the executor, the resolver
    threads) starts at the first submission, not when the runner is entered: Prefect
    enters a duplicate of the runner in the worker around every task run, never submits
    to it, and building and tearing all that down cost a worker about 6 ms per task run.
    All the workers are spawned by then, so they import while upstream work runs.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(max_workers=max_workers)
        self._early: PoolWorkers | None = None

    @contextmanager
    def spawned_early(self) -> Iterator[StageProcessPool]:
        """Spawn the workers now, for the flow run this runner is about to be given to.

        Creating the flow run and entering its runner take the engine 0.15-0.25 s, during
        which the workers can already be importing the stages (1.2-1.5 s before they can
        take a task run). The engine enters a duplicate of the flow's runner: the workers go
        to the first duplicate made (`duplicate`). Workers no flow run used end with the
        block; each finishes its imports first (the block does not wait for that, but the
        interpreter's exit does).
        """
        self._early = PoolWorkers(self._max_workers)
        try:
            yield self
        finally:
            self._discard_early()

    def duplicate(self) -> StageProcessPool:
        runner = super().duplicate()
        runner._early, self._early = self._early, None
        return runner

    def __getstate__(self) -> dict[str, Any]:
        # A flow's runner is pickled with it; workers (and their queues) never travel.
        return {**self.__dict__, "_early": None}

    def __enter__(self) -> StageProcessPool:
        # Made here, not in __init__: a flow's runner is pickled with it, a lock cannot be.
        self._start_lock = threading.Lock()
        TaskRunner.__enter__(self)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self._discard_early()
        super().__exit__(exc_type, exc_value, traceback)

    def _discard_early(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            early.discard()

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        if self._started:  # if not, Prefect's submit says so
            with self._start_lock:
                if self._executor is None:
                    self._start()
        return super().submit(*args, **kwargs)

    def _start(self) -> None:
        """What Prefect's `__enter__` starts, on workers spawned early or now, every one at
        once: the executor would spawn a worker only as a task run reaches it, after the
        task run's upstream futures are done (behind the downloads, for the first extracts).
        """
        from prefect.context import serialize_context
        from prefect.settings import get_current_settings

        # What Prefect's submit serializes once for the runner's life, computed here as it
        # computes it and left where it caches it, so it is not serialized twice (15-20 ms
        # of CPU before the first extract); the settings go to the workers once, here.
        context = self._cached_context = serialize_context()
        self._cached_env = get_current_settings().to_environment_variables(exclude_unset=True) | os.environ
        workers, self._early = self._early or PoolWorkers(self._max_workers), None
        workers.hand({"settings_context": context.get("settings_context") or {},
                      "block_types": sorted(block_types(context.get("flow_run_context")))})
        self._subprocess_message_queue = workers.messages
        self._message_forwarding_thread = threading.Thread(
            target=self._forward_subprocess_messages, name="ProcessPoolTaskRunnerMessageForwarder", daemon=True)
        self._message_forwarding_thread.start()
        self._executor = workers.executor
        self._resolver_executor = ThreadPoolExecutor(max_workers=self._max_workers)

    def _resolve_futures_and_submit(self, *args: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        # Prefect 3.8's private step between a submission and the executor (Prefect is pinned
        # below 3.9; tests/test_runners.py fails if workers rebuild settings again): every
        # task run's context goes without the settings, which the workers already hold.
        return super()._resolve_futures_and_submit(*args, context={**context, "settings_context": {}}, **kwargs)


class PoolWorkers:
    """A process pool's workers, spawned as Prefect's `ProcessPoolTaskRunner.__enter__`
    spawns them (Prefect 3.8: its initializer, with the queue that forwards the workers'
    events and logs to this process), each running `start_worker` with a queue of its own
    that brings it the flow run's setup."""

    def __init__(self, max_workers: int) -> None:
        from prefect.task_runners import _initialize_process_pool_worker

        context = multiprocessing.get_context("spawn")
        self.messages = context.Queue()
        self._setup = context.Queue()
        self._size = max_workers
        self.executor = ProcessPoolExecutor(max_workers=max_workers, mp_context=context,
                                            initializer=_initialize_process_pool_worker,
                                            initargs=(self.messages, start_worker, (self._setup,)))
        # The executor spawns one worker per submission while none is idle: a no-op each.
        for _ in range(max_workers):
            self.executor.submit(os.getpid)

    def hand(self, setup: dict[str, Any] | None) -> None:
        """The flow run's setup to every worker (None: no run will use them)."""
        for _ in range(self._size):
            self._setup.put(setup)

    def discard(self) -> None:
        """End workers no flow run will use, without waiting for them here: a thread of
        this process waits (so its exit does). Until they have started, they need this
        side's queues, whose semaphores are unlinked once nothing here holds them."""
        self.hand(None)
        threading.Thread(target=self._shut_down, name="fineflow-unused-pool-workers").start()

    def _shut_down(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.messages.close()


def block_types(serialized: Any) -> set[str]:
    """The slugs of the blocks in a serialized context: what a worker rebuilds from it."""
    if isinstance(serialized, dict):
        found = {serialized["block_type_slug"]} if isinstance(serialized.get("block_type_slug"), str) else set()
        return found.union(*(block_types(value) for value in serialized.values()))
    if isinstance(serialized, (list, tuple)):
        return set().union(*(block_types(value) for value in serialized))
    return set()


def start_worker(setup: Queue) -> None:
    """The pool's initializer: import the stages (`tasks.worker.prepare_worker`), then take
    the flow run's setup from `setup` and enter its settings and one API client for the
    worker's life, and Prefect's collections if the run needs them. None: no flow run will
    use this worker, which returns to end with the pool. At the end of its life the worker
    skips the interpreter's teardown (registered first, to run after every other exit
    handler)."""
    exit_without_teardown()
    prepare_worker()
    given = setup.get()
    if given is None:
        return
    enter_for_life(given.get("settings_context") or {})
    load_collections_for(given.get("block_types", ()))
    # What the settings and the client hold lives as long as the process too.
    gc.freeze()


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

    The settings are copied with the one field changed, not revalidated whole as Prefect's
    `temporary_settings` does (28 ms of CPU, before the flow run starts): None is a value
    the field takes.
    """
    if runner.heartbeats:
        yield
        return
    from prefect.context import SettingsContext, get_settings_context

    context = get_settings_context()
    settings = context.settings
    flows = settings.flows.model_copy(update={"heartbeat_frequency": None})
    with SettingsContext(profile=context.profile, settings=settings.model_copy(update={"flows": flows})):
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
