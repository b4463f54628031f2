"""Run plans: what a flow run set out to produce, so `status` can say what is missing."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from storage.store import Store

RUNS_DIR = "_runs"


class PlannedOutput(BaseModel):
    stage: str
    key: str
    shard: str | None = None


class RunPlan(BaseModel):
    flow: str
    run_id: str | None = None
    crawl: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    outputs: list[PlannedOutput] = Field(default_factory=list)


def write_plan(store: Store, plan: RunPlan) -> None:
    stamp = plan.created_at.strftime("%Y%m%dT%H%M%S%fZ")
    body = plan.model_dump_json(indent=2).encode()
    store.write_atomic(f"{RUNS_DIR}/{stamp}-{plan.flow}.json", body)
    store.write_atomic(f"{RUNS_DIR}/latest.json", body)


def latest_plan(store: Store) -> RunPlan | None:
    try:
        return RunPlan.model_validate_json(store.read_bytes(f"{RUNS_DIR}/latest.json"))
    except (FileNotFoundError, ValueError):
        return None
