"""What every flow does with stage tasks: bounded submission, waiting, failure reporting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefect import Task
from prefect.futures import PrefectFuture, as_completed

from tasks.stage import OutputRef


class StageFailures(RuntimeError):
    """Some shards of a stage failed; the others completed. The message names them."""


def submit_bounded(task: Task, jobs: Iterable[Any], limit: int) -> list[PrefectFuture]:
    """Submit one task per job, never more than `limit` running at once.

    The bound lives here rather than in the task runner so it holds under any runner,
    including the one a deployment's worker brings.
    """
    futures: list[PrefectFuture] = []
    pending: list[PrefectFuture] = []
    for job in jobs:
        if len(pending) >= limit:
            pending.remove(next(as_completed(pending)))
        future = task.submit(job)
        futures.append(future)
        pending.append(future)
    return futures


def collect(stage: str, jobs: Sequence[Any], futures: Sequence[PrefectFuture]) -> tuple[list[OutputRef], list[str]]:
    """Wait for every future; the refs of those that completed and a line per failure."""
    refs: list[OutputRef] = []
    failures: list[str] = []
    for job, future in zip(jobs, futures):
        future.wait()
        state = future.state
        if state.is_completed():
            ref: OutputRef = state.result()
            # A Prefect cache hit returns the record of the run that computed it.
            refs.append(ref.model_copy(update={"reused": True}) if state.name == "Cached" else ref)
        else:
            try:
                state.result()
                reason = state.message or state.name
            except BaseException as exc:  # noqa: BLE001 - reported, not handled
                reason = f"{type(exc).__name__}: {exc}"
            failures.append(f"{stage} {job.label}: {reason}")
    return refs, failures


def raise_failures(stage: str, total: int, failures: list[str]) -> None:
    if failures:
        raise StageFailures(f"{stage} failed for {len(failures)} of {total}: " + "; ".join(failures))
