"""What is materialized in a storage root, per stage and shard."""

from __future__ import annotations

from pydantic import BaseModel

from storage.manifest import MANIFEST_NAME
from storage.output import OutputState
from storage.runs import latest_plan
from storage.store import Store


class OutputStatus(BaseModel):
    stage: str
    key: str
    shard: str | None
    state: OutputState
    planned: bool
    manifest: str | None = None
    counts: dict[str, int] = {}
    error: str | None = None


def collect_status(store: Store, stage: str | None = None) -> list[OutputStatus]:
    """Every output found under the root, plus the latest run plan's outputs not found."""
    plan = latest_plan(store)
    planned = {(p.stage, p.key): p for p in plan.outputs} if plan else {}
    rows: list[OutputStatus] = []
    seen = set()
    for name in [stage] if stage else store.stages():
        for output in store.outputs(name):
            seen.add((name, output.key))
            state = output.state()
            row = OutputStatus(stage=name, key=output.key, shard=None, state=state,
                               planned=(name, output.key) in planned)
            if state == OutputState.COMMITTED:
                manifest = output.read_manifest()
                row.shard, row.counts = manifest.shard, manifest.counts
                row.manifest = output.uri(MANIFEST_NAME)
            elif state == OutputState.FAILED:
                failure = output.read_failure()
                row.shard, row.error = failure.shard, failure.error
            if row.shard is None and row.planned:
                row.shard = planned[(name, output.key)].shard
            rows.append(row)
    for (name, key), p in planned.items():
        if (name, key) not in seen and (stage is None or name == stage):
            rows.append(OutputStatus(stage=name, key=key, shard=p.shard, state=OutputState.MISSING, planned=True))
    return sorted(rows, key=lambda r: (r.stage, r.shard or "", r.key))
