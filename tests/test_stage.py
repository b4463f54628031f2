"""The stage pattern on a toy stage: skip when committed, failures recorded, keys, resume."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import ClassVar

import pytest

from storage import OutputState, StorageConfig, Store
from tasks.stage import OutputRef, Stage, StageJob, StageResult


class EchoJob(StageJob):
    not_in_key: ClassVar[frozenset[str]] = frozenset({"fail"})
    text: str
    fail: bool = False


calls: list[str] = []


def echo(job: EchoJob, out, ctx) -> StageResult:
    calls.append(job.text)
    with out.open("echo.txt") as f:
        f.write(job.text.encode())
    if job.fail:
        raise RuntimeError("asked to fail")
    return StageResult(counts={"chars": len(job.text)})


ECHO = Stage(name="echo", version="1", work=echo)


def make(tmp_path, **kw) -> EchoJob:
    return EchoJob(storage=StorageConfig(root=str(tmp_path)), shard="s/one", **{"text": "hi", **kw})


def test_runs_once_then_reuses(tmp_path):
    calls.clear()
    first = ECHO.run(make(tmp_path))
    again = ECHO.run(make(tmp_path))
    assert calls == ["hi"] and not first.reused and again.reused
    assert first.counts == {"chars": 2} and first.files == ["echo.txt"] and first.digest == again.digest
    assert (tmp_path / first.dir / "echo.txt").read_text() == "hi"


def test_key_follows_output_settings_and_sources_only(tmp_path):
    base = make(tmp_path)
    assert ECHO.key(base) == ECHO.key(make(tmp_path, fail=True))  # how, not what
    assert ECHO.key(base) != ECHO.key(make(tmp_path, text="other"))
    src = OutputRef(stage="up", key="k", shard=None, uri="u", digest="d1", files=[], counts={})
    with_src = make(tmp_path, sources=[src])
    assert with_src.inputs == ["d1"] and ECHO.key(with_src) != ECHO.key(base)
    changed = make(tmp_path, sources=[src.model_copy(update={"digest": "d2"})])
    assert ECHO.key(changed) != ECHO.key(with_src)


def test_failure_is_recorded_and_nothing_committed(tmp_path):
    job = make(tmp_path, fail=True)
    with pytest.raises(RuntimeError, match="asked to fail"):
        ECHO.run(job)
    output = ECHO.output(job)
    assert output.state() == OutputState.FAILED
    assert output.read_failure().error == "RuntimeError: asked to fail" and output.read_failure().shard == "s/one"


def test_resumable_stage_keeps_and_adopts_earlier_files(tmp_path):
    def resume(job, out, ctx):
        if out.exists("step1.bin"):
            out.adopt("step1.bin")
        else:
            with out.open("step1.bin") as f:
                f.write(b"one")
            if job.fail:
                raise RuntimeError("killed after step 1")
        with out.open("step2.bin") as f:
            f.write(b"two")
        return StageResult()

    stage = Stage(name="resume", version="1", work=resume, resumable=True)
    with pytest.raises(RuntimeError):
        stage.run(make(tmp_path, fail=True))
    ref = stage.run(make(tmp_path, fail=True))
    assert ref.files == ["step1.bin", "step2.bin"]
    assert Store(str(tmp_path)).output("resume", ref.key).state() == OutputState.COMMITTED


class TickJob(StageJob):
    ticks: int
    tick_s: float


def tick(job: TickJob, out, ctx) -> StageResult:
    for i in range(1, job.ticks + 1):
        time.sleep(job.tick_s)
        ctx.progress(i, job.ticks, unit="tick")
    with out.open("ticks.txt") as f:
        f.write(str(job.ticks).encode())
    return StageResult(counts={"ticks": job.ticks})


TICK = Stage(name="tick", version="1", work=tick)


def test_progress_updates_grow_sparser_as_a_task_ages(monkeypatch):
    """Every 5 s at first, then every 1% of the task's age: a ten-hour task reports a few
    hundred times, not 7,200 (each report is an API call and an event on the server)."""
    from tasks import stage as stage_module
    from tasks.stage import StageContext

    clock = [1000.0]
    # The module's own `time` only: patching time.monotonic itself would stop the clock for
    # every thread in this process (Prefect's services from earlier tests among them).
    monkeypatch.setattr(stage_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    ctx = StageContext("train", "run", artifacts=True)
    reports: list[tuple[float, float]] = []
    monkeypatch.setattr(ctx, "_report_artifact", lambda percent: reports.append((clock[0] - 1000.0, percent)))
    total = 10 * 3600
    for second in range(1, total + 1):  # a call every second, as a chunked stage makes them
        clock[0] = 1000.0 + second
        ctx.progress(second, total, unit="s")
        ctx._artifact_id = ctx._artifact_id or "created"  # what a real first report leaves
    ages = [age for age, _ in reports]
    assert ages[:3] == [5.0, 10.0, 15.0]
    gaps = [b - a for a, b in zip(ages, ages[1:])]
    # No gap shorter than 5 s or than 1% of the age at which it ended (but the last: the end).
    assert all(gap >= max(5.0, (end - 1) / 100) for gap, end in zip(gaps[:-1], ages[1:-1]))
    assert gaps[-2] >= 300  # near the end of ten hours: every 6 minutes
    assert reports[-1] == (float(total), 100.0)
    assert 300 < len(reports) < 700, len(reports)


@pytest.mark.usefixtures("prefect_api")
def test_long_tasks_get_a_progress_artifact_and_quick_ones_none(tmp_path):
    from prefect import flow, get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    from tasks.stage import for_storage, stage_task

    storage = StorageConfig(root=str(tmp_path))
    tick_task = for_storage(stage_task(TICK, retries=0), storage)

    @flow(name="ticks")
    def ticks() -> None:
        tick_task(TickJob(storage=storage, shard="quick", ticks=5, tick_s=0.0))
        tick_task(TickJob(storage=storage, shard="slow", ticks=11, tick_s=0.5))

    state = ticks(return_state=True)
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            type=ArtifactFilterType(any_=["progress"])))
    # The slow one (5.5 s) reported after 5 s and at its end; the quick one never.
    assert [(a.description, a.data) for a in artifacts] == [("tick slow", 100.0)]
