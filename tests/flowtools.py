"""Reading flow and task run states back from the Prefect API."""

from __future__ import annotations

from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId


def task_states(flow_run_id: UUID) -> dict[str, str]:
    """Task run name -> final state name, for one flow run."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run.state.name for run in runs}


def download_states(flow_run_id: UUID) -> dict[str, str]:
    return {name.removeprefix("download "): state for name, state in task_states(flow_run_id).items()
            if name.startswith("download ")}
