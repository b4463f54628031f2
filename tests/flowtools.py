"""Running fineflow against a Prefect server, and reading flow and task run states back."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.server import FLUSH_INTERVAL_S

REPO = Path(__file__).resolve().parent.parent


def fineflow(api: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The `fineflow` command in a fresh process that reports to the server at `api`."""
    env = {**os.environ, "PREFECT_API_URL": api}
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@contextlib.contextmanager
def on_server(api: str) -> Iterator[None]:
    """Prefect clients made inside talk to the server at `api`."""
    with temporary_settings(updates={PREFECT_API_URL: api}):
        yield


def newest_flow_run(flow_name: str = "pipeline"):
    """The most recently created run of the flow `flow_name` (the current server)."""
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=50)
                if client.read_flow(r.flow_id).name == flow_name]
    assert runs, f"no run of flow {flow_name!r} on the server"
    return max(runs, key=lambda r: r.created)


def wait_final(flow_run_id: UUID, timeout: float, log: Path | None = None):
    """The flow run once its state is final (the current server); fails with `log`'s tail on timeout."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            if time.monotonic() > deadline:
                tail = log.read_text()[-3000:] if log is not None else ""
                raise AssertionError(f"flow run still {run.state and run.state.name} after {timeout}s; {tail}")
            time.sleep(1)


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server, worker or serve process, killing it if it does not stop."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def task_states(flow_run_id: UUID, timeout_s: float = 60.0) -> dict[str, str]:
    """Task run name -> final state name, for one flow run.

    Prefect 3's server records task runs from events, a moment after they happen (longer
    on a busy machine), and fineflow's servers write them in batches at least every
    FLUSH_INTERVAL_S (flows/server.py), so this waits until every run it lists has a final
    state and the list has not changed for longer than that, for at most `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    previous: dict[str, str] | None = None
    since = time.monotonic()
    while True:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        states = {run.name: run.state.name if run.state else "unrecorded" for run in runs}
        settled = runs and all(run.state is not None and run.state.is_final() for run in runs)
        now = time.monotonic()
        if states != previous or not settled:
            previous, since = states, now
        elif now - since > FLUSH_INTERVAL_S + 0.5:
            return states
        if now > deadline:
            return states
        time.sleep(0.5)


def download_states(flow_run_id: UUID) -> dict[str, str]:
    return {name.removeprefix("download "): state for name, state in task_states(flow_run_id).items()
            if name.startswith("download ")}
