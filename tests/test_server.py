"""The settings fineflow's Prefect servers get (flows/server.py), and that servers take them."""

from __future__ import annotations

import os

import httpx
import pytest

from flows.server import FLUSH_INTERVAL_S, SERVICE_SETTINGS, server_env, service_settings_in_environment

RECORDER_BATCH = "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"


def test_server_env_adds_the_service_settings_under_what_the_environment_sets():
    base = {"PATH": "/bin", "PREFECT_API_URL": "http://elsewhere/api", RECORDER_BATCH: "7"}
    env = server_env(4300, base=base)
    assert env[RECORDER_BATCH] == "7"  # the user's own value wins
    assert env["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"] == str(FLUSH_INTERVAL_S)
    assert env["PATH"] == "/bin"
    assert "PREFECT_API_URL" not in env  # a server never points at another one
    assert (env["PREFECT_SERVER_API_HOST"], env["PREFECT_SERVER_API_PORT"], env["PREFECT_UI_API_URL"]) == (
        "127.0.0.1", "4300", "http://127.0.0.1:4300/api")
    assert base[RECORDER_BATCH] == "7" and "PREFECT_SERVER_API_PORT" not in base  # the base is left alone


def test_service_settings_in_environment_adds_only_what_is_missing_and_takes_only_that_out(monkeypatch):
    for name in SERVICE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(RECORDER_BATCH, "7")
    with service_settings_in_environment():
        assert {name: os.environ[name] for name in SERVICE_SETTINGS} == {**SERVICE_SETTINGS, RECORDER_BATCH: "7"}
    assert os.environ[RECORDER_BATCH] == "7"
    assert not [name for name in SERVICE_SETTINGS if name != RECORDER_BATCH and name in os.environ]


def services_of(api: str) -> dict:
    return httpx.get(f"{api}/admin/settings", timeout=10).json()["server"]["services"]


@pytest.mark.usefixtures("prefect_api")
def test_a_temporary_server_started_from_this_environment_batches_its_writes():
    """The tests' temporary server is started as a `fineflow` command starts its own
    (Prefect's SubprocessASGIServer, from this process's environment)."""
    from prefect.settings import PREFECT_API_URL

    services = services_of(PREFECT_API_URL.value())
    assert services["task_run_recorder"]["batch_size"] == 100
    assert services["task_run_recorder"]["flush_interval"] == FLUSH_INTERVAL_S
    assert services["event_persister"]["batch_size"] == 100
    assert services["event_persister"]["flush_interval"] == FLUSH_INTERVAL_S
