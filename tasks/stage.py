"""The stage pattern: every stage is a plain function run through this one mechanism.

`Stage.run(job)` is the whole contract without Prefect: find the output's content key,
return at once if that output is already committed, otherwise clear leftovers, let the
stage's function write its files, and commit the manifest last. `stage_task(stage)`
wraps it as a Prefect task that adds retries with backoff and jitter, a cache keyed by
that same content key, results persisted under the storage root, progress artifacts,
concurrency slots held inside the work, and logging; nothing else. (Links to the outputs
are the flow's: one `pipeline-outputs` artifact a run, not one per task run.)
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from prefect import Task, task
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from storage import OutputWriter, StageOutput, StorageConfig, Store, content_key, digest

RESULTS_DIR = "_prefect/results"
# The age of a task at its first progress artifact, and the shortest gap between updates.
PROGRESS_EVERY_S = 5.0


class PermanentError(RuntimeError):
    """Bad input that no retry can fix (an unknown crawl, a 404, a malformed path).

    The task fails at once with this message instead of retrying.
    """


class OutputRef(BaseModel):
    """What a stage returns and Prefect caches: where the output is, never the data."""

    stage: str
    key: str
    shard: str | None
    uri: str
    digest: str
    files: list[str]
    counts: dict[str, int]
    reused: bool = Field(False, description="Found committed in storage, nothing recomputed")

    @property
    def dir(self) -> str:
        """The output's folder relative to the storage root."""
        return f"{self.stage}/{self.key}"

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}"

    @property
    def url(self) -> str:
        """The output's folder as a URL for people and UIs: `file://` for a local root (whose
        `uri` is a plain absolute path), the store's own address (`s3://...`) otherwise."""
        return self.uri if "://" in self.uri else Path(self.uri).as_uri()


class StageJob(BaseModel):
    """One unit of work of a stage. Subclasses add the fields their stage needs.

    Every field shapes the output key except `storage`, `sources` (which enter the key
    as their manifest digests) and the fields a subclass lists in `not_in_key` (how to do
    the work, not what comes out: timeouts, concurrency, mirrors).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    not_in_key: ClassVar[frozenset[str]] = frozenset()

    storage: StorageConfig
    shard: str = Field(description="The unit of work, named for people")
    sources: list[OutputRef] = Field(default_factory=list, description="Committed outputs this job reads")

    @property
    def inputs(self) -> list[str]:
        return [ref.digest for ref in self.sources]

    @property
    def label(self) -> str:
        return self.shard.rsplit("/", 1)[-1]

    def output_config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"storage", "sources", *self.not_in_key})

    def split_sources(self, stage: str) -> tuple[OutputRef, OutputRef]:
        """(the one source that is not from `stage`, the one from `stage`): for jobs that
        read one shard together with a run-wide output (a tokenizer, dedup clusters)."""
        theirs = [ref for ref in self.sources if ref.stage == stage]
        others = [ref for ref in self.sources if ref.stage != stage]
        if len(theirs) != 1 or len(others) != 1:
            raise PermanentError(f"{self.label} reads one shard and one {stage} output, "
                                 f"not {[ref.stage for ref in self.sources]}")
        return others[0], theirs[0]


J = TypeVar("J", bound=StageJob)


@dataclass
class StageResult:
    """What a stage's function reports besides its files."""

    counts: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class StageContext:
    """Logging and progress for a stage function, with or without Prefect around it."""

    def __init__(self, stage: str, label: str, logger: logging.Logger | logging.LoggerAdapter | None = None,
                 artifacts: bool = False) -> None:
        self.logger = logger or logging.getLogger(f"fineflow.{stage}")
        self._stage = stage
        self._label = label
        self._artifacts = artifacts
        self._artifact_id = None
        self._bar: tqdm | None = None
        self._started = self._last_report = time.monotonic()  # the first report waits too

    def progress(self, done: float, total: float | None, unit: str = "B") -> None:
        """Report progress; cheap enough to call for every chunk (updates are throttled).

        Under Prefect, a task that has run for 5 s gets a progress artifact, then updates
        every 5 s or every 1% of the task's age, whichever is longer, and one at the end.
        Each update costs a task on busy cores about 30 ms (an API call, and the server's
        CPU to write it; README, "Where Prefect's time goes"): at most 0.6% of its time at
        5 s, where 2 s cost 1.5% of the demo's training. A task done in under 5 s gets none
        (two API calls saved, and nobody watches a bar that is full as soon as it appears).
        The growing interval keeps a long task's updates to a few hundred: each one is also
        a row in the server's events table, and at a fixed 5 s a ten-hour training would
        send 7,200."""
        if self._bar is None:
            # disable=None: a bar only when stderr is a terminal, never in CI logs.
            self._bar = tqdm(total=total, unit=unit, unit_scale=True, desc=f"{self._stage} {self._label}",
                             disable=None, leave=False)
        self._bar.total = total
        self._bar.update(done - self._bar.n)
        now = time.monotonic()
        interval = max(PROGRESS_EVERY_S, (now - self._started) / 100)
        if self._artifacts and total and (now - self._last_report >= interval
                                          or (done >= total and self._artifact_id is not None)):
            self._last_report = now
            self._report_artifact(100.0 * done / total)

    def _report_artifact(self, percent: float) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        try:
            if self._artifact_id is None:
                self._artifact_id = create_progress_artifact(
                    progress=percent, description=f"{self._stage} {self._label}"
                )
            else:
                update_progress_artifact(self._artifact_id, progress=percent)
        except Exception as exc:  # noqa: BLE001 - progress is never worth failing the work for
            self.logger.debug("progress artifact not updated: %s", exc)

    def table(self, key: str, rows: list[dict[str, Any]], description: str = "") -> None:
        """A table artifact in the Prefect UI (nothing outside Prefect)."""
        if self._artifacts:
            from prefect.artifacts import create_table_artifact

            create_table_artifact(table=rows, key=key, description=description)

    def markdown(self, key: str, text: str, description: str = "") -> None:
        """A markdown artifact in the Prefect UI (nothing outside Prefect)."""
        if self._artifacts:
            from prefect.artifacts import create_markdown_artifact

            create_markdown_artifact(markdown=text, key=key, description=description)

    @contextlib.contextmanager
    def slot(self, limit: str | None) -> Iterator[None]:
        """Hold one slot of the Prefect concurrency limit named `limit` (a tag limit is
        `tag:NAME`) while the block runs; outside Prefect, or for None, nothing.

        A stage takes it around the work that needs it instead of tagging its task:
        Prefect's engine asks the server for a tag's slot before the cache check, so every
        rerun answered from the cache would ask too (and wait for one)."""
        if not (self._artifacts and limit):
            yield
            return
        from prefect.client.schemas.objects import ConcurrencyLeaseHolder
        from prefect.concurrency.sync import concurrency

        run = TaskRunContext.get()
        holder = ConcurrencyLeaseHolder(type="task_run", id=run.task_run.id) if run else None
        waited = time.monotonic()
        with concurrency(limit, occupy=1, lease_duration=60, holder=holder):
            if time.monotonic() - waited > 1.0:
                self.logger.info("waited %.1f s for a slot of %s", time.monotonic() - waited, limit)
            yield

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


StageFunction = Callable[[J, OutputWriter, StageContext], StageResult]


@dataclass(frozen=True)
class Stage(Generic[J]):
    """A named, versioned stage function. Bump `version` when its output changes.

    A `resumable` stage (training) keeps what an interrupted attempt wrote, so the next
    attempt can continue from it; every other stage starts each attempt clean.
    """

    name: str
    version: str
    work: StageFunction
    resumable: bool = False

    def key(self, job: J) -> str:
        return content_key(self.name, self.version, job.output_config(), job.inputs)

    def output(self, job: J) -> StageOutput:
        return Store(job.storage).output(self.name, self.key(job))

    def run(self, job: J, ctx: StageContext | None = None) -> OutputRef:
        ctx = ctx or StageContext(self.name, job.label)
        output = self.output(job)
        manifest = output.committed()
        if manifest is not None:
            ctx.logger.info("%s %s: already committed at %s", self.name, job.label, output.uri())
            return _ref(output, manifest, reused=True)
        writer = output.begin(keep=self.resumable)
        try:
            result = self.work(job, writer, ctx)
            manifest = writer.commit(
                shard=job.shard,
                config_digest=digest(job.output_config()),
                inputs=list(job.inputs),
                counts=result.counts,
                extra=result.extra,
                stage_version=self.version,
            )
        except BaseException as exc:
            try:
                writer.fail(f"{type(exc).__name__}: {exc}", shard=job.shard)
            except Exception:  # noqa: BLE001 - the original error matters more
                ctx.logger.warning("could not record the failure of %s %s", self.name, job.label)
            raise
        finally:
            ctx.close()
        ctx.logger.info("%s %s: committed %s (%.1f s)", self.name, job.label, output.uri(), manifest.duration_s)
        return _ref(output, manifest, reused=False)


def _ref(output: StageOutput, manifest, reused: bool) -> OutputRef:
    return OutputRef(
        stage=output.stage, key=output.key, shard=manifest.shard, uri=output.uri(),
        digest=manifest.digest, files=[f.path for f in manifest.files], counts=manifest.counts,
        reused=reused,
    )


# Prefect wrapper


@dataclass
class StageOutputCache(CachePolicy):
    """Prefect's cache key is the stage output's content key.

    Prefect's DEFAULT policy includes the run id, so a new or scheduled run never hits it;
    this key depends only on what the output is made of. A cache record whose output is
    no longer committed in storage (deleted, damaged) is forgotten here, so Prefect
    treats it as a miss and runs the task instead of returning a reference to nothing.
    """

    stage: Stage | None = None

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        job = inputs.get("job")
        if self.stage is None or not isinstance(job, StageJob):
            return None
        job = with_sources(job, inputs.get("sources"))
        output = self.stage.output(job)
        key = f"{self.stage.name}-{output.key}"
        if output.committed() is None:
            _forget_record(task_ctx, key)
        return key


def _forget_record(task_ctx: TaskRunContext, key: str) -> None:
    import fsspec

    storage = getattr(task_ctx.result_store, "result_storage", None) if task_ctx else None
    base = getattr(storage, "basepath", None)
    if not base:
        return
    fs, path = fsspec.core.url_to_fs(f"{str(base).rstrip('/')}/{key}", **(getattr(storage, "settings", None) or {}))
    if fs.exists(path):
        fs.rm(path)


def retry_unless_permanent(task: Task, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except PermanentError:
        return False
    except Exception:  # noqa: BLE001 - anything else may be transient
        return True
    return True


def with_sources(job: J, sources: list[OutputRef] | None) -> J:
    """The job reading `sources`, when they are given apart from it."""
    return job if sources is None else job.model_copy(update={"sources": list(sources)})


def stored_ref(store: Store, stage: str, key: str) -> OutputRef | None:
    """The reference to an output committed in storage, found by stage and key."""
    output = store.output(stage, key)
    manifest = output.committed()
    return None if manifest is None else _ref(output, manifest, reused=True)


def committed_ref(stage: Stage[J], job: J) -> OutputRef | None:
    """The job's output if it is already committed in storage, without running anything."""
    return stored_ref(Store(job.storage), stage.name, stage.key(job))


def stage_task(stage: Stage[J], *, retries: int = 3, retry_delay_s: float = 10.0,
               retry_jitter: float = 0.5) -> Task[..., OutputRef]:
    """The Prefect task for a stage; bind it to a storage root with `for_storage`.

    `sources` may be passed apart from the job so a flow can hand in the futures of the
    upstream tasks: Prefect waits for them, and a failed upstream never starts this one.
    """

    def run(job: J, sources: list[OutputRef] | None = None) -> OutputRef:
        from prefect import get_run_logger

        job = with_sources(job, sources)
        ctx = StageContext(stage.name, job.label, get_run_logger(), artifacts=True)
        return stage.run(job, ctx)

    run.__name__ = run.__qualname__ = f"{stage.name}_stage"
    return task(
        run,
        name=stage.name,
        task_run_name=f"{stage.name} {{job.label}}",
        retries=retries,
        retry_delay_seconds=exponential_backoff(retry_delay_s),
        retry_jitter_factor=retry_jitter,
        retry_condition_fn=retry_unless_permanent,
        cache_policy=StageOutputCache(stage=stage),
        persist_result=True,
        result_serializer="json",
        # No tags: Prefect's engine asks the server for a concurrency slot for every tagged
        # task run, limit or not, cached or not, and a busy SQLite server answers 503, which
        # the client retries 2 s later (bench/overhead.py measured 8-13 s a demo run). A
        # stage that must be limited holds a slot itself (StageContext.slot).
    )


def results_location(storage: StorageConfig) -> Path | str:
    """Where Prefect persists task results: under the storage root, so the cache made on one
    machine serves every other that reads the same root.

    Remote roots need a saved block (Prefect refuses unsaved ones); it holds the address
    and endpoint only, never credentials, which s3fs takes from the environment.
    """
    store = Store(storage)
    if store.local:
        return Path(store.path(RESULTS_DIR))
    from prefect.filesystems import RemoteFileSystem

    basepath = store.uri(RESULTS_DIR)
    settings = storage.public_options()
    name = f"fineflow-results-{digest([basepath, settings])}"
    RemoteFileSystem(basepath=basepath, settings=settings).save(name, overwrite=True)
    return f"remote-file-system/{name}"


def for_storage(stage_task_: Task, storage: StorageConfig, location: Path | str | None = None,
                **options: Any) -> Task:
    """The same task with its results persisted under `storage`'s root: at `location`, its
    `results_location` when the caller resolved it already (on S3 that saves a block, API
    calls a flow binding many stages makes once)."""
    return stage_task_.with_options(result_storage=location or results_location(storage), **options)
