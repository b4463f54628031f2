"""The settings every Prefect server fineflow starts gets beyond Prefect's defaults.

Nothing here imports Prefect: bench/ and tests/ build a server's environment before
Prefect reads its own settings.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

# The longest a task run's state, or an event, waits on the server before it is written.
FLUSH_INTERVAL_S = 1.0

# Prefect's server records task runs from the state events their engines send, and by
# default writes each event in a transaction of its own (batch size 1): 20-22 ms of the
# server's CPU per task run, on the cores the stages need. Written 100 at a time, or
# whatever has come in each second, a task run costs the server 6-7 ms (bench.prefect_costs),
# and the UI shows its state at most a second late. Events themselves (the UI's event feed)
# are written 100 at a time instead of 20, also within a second instead of five.
SERVICE_SETTINGS: dict[str, str] = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": str(FLUSH_INTERVAL_S),
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": str(FLUSH_INTERVAL_S),
}


def server_env(port: int, host: str = "127.0.0.1", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a `prefect server start` on host:port: `base` (this process's
    environment by default) with fineflow's service settings wherever it sets none, the
    API's host and port, and the UI calling that API rather than the default port 4200
    (STACK.md). Without PREFECT_API_URL: a server must not point at another one."""
    env = {**SERVICE_SETTINGS, **(os.environ if base is None else base)}
    env.pop("PREFECT_API_URL", None)
    env.update({"PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port),
                "PREFECT_UI_API_URL": f"http://{host}:{port}/api"})
    return env


@contextlib.contextmanager
def service_settings_in_environment() -> Iterator[None]:
    """fineflow's service settings in this process's environment while the block runs,
    wherever it sets none: for a server Prefect starts from that environment (the
    temporary one of a `fineflow` command). Only the settings it added are taken out."""
    added = {name: value for name, value in SERVICE_SETTINGS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
