"""Reading flow and task run states back from the Prefect API."""

from __future__ import annotations

import time
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId


def task_states(flow_run_id: UUID, timeout_s: float = 60.0) -> dict[str, str]:
    """Task run name -> final state name, for one flow run.

    Prefect 3's server records task runs from events, a moment after they happen (longer
    on a busy machine), so this waits until every run it lists has a final state and the
    list has stopped growing, for at most `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    previous: dict[str, str] | None = None
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        states = {run.name: run.state.name if run.state else "unrecorded" for run in runs}
        settled = runs and all(run.state is not None and run.state.is_final() for run in runs)
        if (settled and states == previous) or time.monotonic() > deadline:
            return states
        previous = states if settled else None
        time.sleep(0.5)


def download_states(flow_run_id: UUID) -> dict[str, str]:
    return {name.removeprefix("download "): state for name, state in task_states(flow_run_id).items()
            if name.startswith("download ")}
