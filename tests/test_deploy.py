"""Deployments: deployments/prefect.yaml, registered with a real server and run by a process worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
import yaml

from flows.config import ConfigError
from flows.deploy import SPEC, load_specs
from flows.pipeline import STAGE_NAMES
from storage import StorageConfig, Store
from storage.status import collect_status
from tests.conftest import SAMPLE_CRAWL, SAMPLE_PATHS
from tests.crawlserver import CrawlServer
from tests.flowtools import on_server, stop, wait_final

REPO = Path(__file__).resolve().parent.parent
POOL = "fineflow-test"


def test_the_yaml_holds_a_weekly_pipeline_and_one_deployment_per_stage():
    specs = {s.name: s for s in load_specs(storage="/tmp/unused")}
    assert set(specs) == {"weekly", *(f"stage-{s}" for s in STAGE_NAMES)}
    weekly = specs["weekly"]
    assert [s["cron"] for s in weekly.schedules] == ["0 3 * * 1"]
    assert (weekly.parameters["first"], weekly.parameters["last"]) == ("download", "train")
    assert weekly.full_name == "fineflow/weekly" and weekly.entrypoint == "flows/entrypoints.py:fineflow_flow"
    for stage in STAGE_NAMES:
        spec = specs[f"stage-{stage}"]
        # Its stage's own flow, whose one parameter is the config.
        assert spec.full_name == f"fineflow-{stage}/stage-{stage}"
        assert spec.entrypoint == f"flows/entrypoints.py:{stage}_flow" and not spec.schedules
        assert list(spec.parameters) == ["config"] and list(spec.flow.parameters.properties) == ["config"]
    for spec in specs.values():
        config = spec.parameters["config"]
        assert config["crawl"]["crawl"] == "latest" and config["storage"]["root"] == "/tmp/unused"
        assert config["download"]["selection"]["first"] >= 1 and spec.work_pool == "fineflow"
    raw = yaml.safe_load(SPEC.read_text())
    assert raw["definitions"]["config"]["storage"]["root"] == "{{ prefect.variables.fineflow_storage }}"


def test_overrides_reach_every_deployment_and_bad_ones_name_the_field():
    specs = load_specs(storage="/tmp/x", overrides={"download.selection": {"first": 2}}, only=["stage-filter"])
    assert [s.name for s in specs] == ["stage-filter"]
    assert specs[0].parameters["config"]["download"]["selection"] == {"first": 2}
    with pytest.raises(ConfigError, match="download.concurrency"):
        load_specs(storage="/tmp/x", overrides={"download.concurrency": 0})
    with pytest.raises(ConfigError, match="no deployment 'nope'"):
        load_specs(storage="/tmp/x", only=["nope"])


def test_a_deployment_of_an_unknown_flow_or_with_a_parameter_its_flow_lacks_is_refused(tmp_path):
    raw = yaml.safe_load(SPEC.read_text())
    stage = next(e for e in raw["deployments"] if e["name"] == "stage-filter")
    bad_flow = tmp_path / "flow.yaml"
    bad_flow.write_text(yaml.safe_dump({"deployments": [{**stage, "entrypoint": "flows/deploy.py:fineflow_flow"}]}))
    with pytest.raises(ConfigError, match=r"stage-filter: entrypoint 'flows/deploy.py:fineflow_flow' is not one of"):
        load_specs(bad_flow, storage="/tmp/x")
    bad_param = tmp_path / "param.yaml"
    bad_param.write_text(yaml.safe_dump({"deployments": [
        {**stage, "parameters": {**stage["parameters"], "first": "filter"}}]}))
    with pytest.raises(ConfigError, match="stage-filter: the flow fineflow-filter has no parameter first"):
        load_specs(bad_param, storage="/tmp/x")


def _run(env: dict[str, str], *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(list(argv), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return done


def _trigger_and_complete(env: dict, api: str, log_path, deployment: str, timeout: float = 180) -> None:
    """`prefect deployment run` a deployment and wait for that run to complete."""
    triggered = _run(env, sys.executable, "-m", "prefect", "deployment", "run", deployment)
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", triggered.stdout)
    assert match, triggered.stdout
    with on_server(api):
        run = wait_final(UUID(match.group(1)), timeout=timeout, log=log_path)
    assert run.state.name == "Completed", f"{run.state}: {log_path.read_text()[-3000:]}"


@pytest.mark.server
def test_a_worker_runs_the_registered_weekly_deployment(prefect_server, tmp_path):
    """The scheduled deployment, triggered now: the whole pipeline on one WARC file of the
    sample crawl, run by a process worker from what `fineflow deploy` registered."""
    store = tmp_path / "store"
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    prefect = [sys.executable, "-m", "prefect"]
    _run(env, *prefect, "work-pool", "create", POOL, "--type", "process")
    # The storage root comes from the Prefect Variable the yaml names, as in production.
    _run(env, *prefect, "variable", "set", "fineflow_storage", str(store), "--overwrite")
    with CrawlServer(SAMPLE_CRAWL) as server:
        small = [f"--set={s}" for s in ("tokenizer.vocab_size=1024", "tokenize.validation_fraction=0.1",
                                         "train.steps=4", "train.eval_every=2", "train.checkpoint_every=2",
                                         "runner.retries=0")]
        deployed = _run(env, sys.executable, "-m", "flows.cli", "deploy", "--pool", POOL, "--data-url", server.url,
                        "--index-url", f"{server.url}/collinfo.json", "--max-warcs", "1", *small)
        assert "registered fineflow/weekly" in deployed.stdout
        assert "registered fineflow-download/stage-download" in deployed.stdout

        from prefect import get_client

        with on_server(prefect_server):
            with get_client(sync_client=True) as client:
                weekly = client.read_deployment_by_name("fineflow/weekly")
                assert [s.schedule.cron for s in weekly.schedules] == ["0 3 * * 1"]
                assert weekly.work_pool_name == POOL and weekly.parameters["config"]["storage"]["root"] == str(store)

        log_path = tmp_path / "worker.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen([*prefect, "worker", "start", "--pool", POOL, "--type", "process"], env=env,
                                      cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
            try:
                _trigger_and_complete(env, prefect_server, log_path, "fineflow/weekly", timeout=300)
            finally:
                stop(worker)
        sent = server.bytes_sent()

    committed = {(r.stage, r.shard) for r in collect_status(Store(StorageConfig(root=str(store))))
                 if r.state.value == "committed"}
    first = SAMPLE_PATHS[0]
    assert committed == {("download", first), ("extract", first), ("filter", first), ("dedup-signatures", first),
                         ("dedup", first), ("tokenize", first), ("dedup-clusters", "CC-MAIN-SAMPLE"),
                         ("tokenizer", "tokenizer"), ("train", "run")}
    assert sent == (SAMPLE_CRAWL / first).stat().st_size  # one WARC file, once


@pytest.mark.server
def test_prefect_deploy_of_the_yaml_agrees_with_fineflow_deploy(prefect_server, tmp_path):
    """`prefect deploy` and `fineflow deploy` register the same deployments from the one file."""
    from prefect import get_client

    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    prefect = [sys.executable, "-m", "prefect"]
    _run(env, *prefect, "work-pool", "create", "fineflow", "--type", "process")
    _run(env, *prefect, "variable", "set", "fineflow_storage", str(tmp_path / "a"), "--overwrite")

    def registered() -> dict:
        with on_server(prefect_server):
            with get_client(sync_client=True) as client:
                return {d.name: (d.parameters, [(s.schedule.cron, s.schedule.timezone) for s in d.schedules],
                                 d.work_pool_name, d.entrypoint, d.pull_steps)
                        for d in client.read_deployments()}

    _run(env, *prefect, "--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml", "--all", timeout=180)
    by_prefect = registered()
    _run(env, sys.executable, "-m", "flows.cli", "deploy")
    by_fineflow = registered()
    assert set(by_prefect) == {"weekly", *(f"stage-{s}" for s in STAGE_NAMES)}
    for name, (params, schedules, pool, entrypoint, pull) in by_fineflow.items():
        p_params, p_schedules, p_pool, p_entrypoint, p_pull = by_prefect[name]
        assert schedules == p_schedules and pool == p_pool == "fineflow"
        flow = "fineflow_flow" if name == "weekly" else f"{name.removeprefix('stage-')}_flow"
        assert entrypoint == p_entrypoint == f"flows/entrypoints.py:{flow}"
        assert params == p_params and params["config"]["storage"]["root"] == str(tmp_path / "a")
        dirs = [step[k]["directory"] for step in [*pull, *p_pull] for k in step if k.endswith("set_working_directory")]
        assert dirs and {str(Path(d).resolve()) for d in dirs} == {str(REPO)}, (pull, p_pull)


@pytest.mark.server
def test_fineflow_serve_runs_a_triggered_deployment(prefect_server, crawl, server, tmp_path):
    from prefect import get_client

    store = tmp_path / "served"
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    # A deployment registered for workers keeps its code location when served under the same
    # name (runs then crash loading the flow): remove the other tests' registrations first.
    with on_server(prefect_server):
        with get_client(sync_client=True) as client:
            for d in client.read_deployments():
                client.delete_deployment(d.id)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        serving = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--only", "stage-download",
                                    "--storage", str(store), "--data-url", server.url,
                                    "--index-url", f"{server.url}/collinfo.json", "--max-warcs", "1"],
                                   env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            # Another test may have registered the same deployment: wait for serve's version of it.
            deadline = time.monotonic() + 90
            with on_server(prefect_server):
                with get_client(sync_client=True) as client:
                    while True:
                        try:
                            d = client.read_deployment_by_name("fineflow-download/stage-download")
                            if d.parameters["config"]["storage"]["root"] == str(store):
                                break
                        except Exception:  # noqa: BLE001 - not registered yet
                            pass
                        assert serving.poll() is None, log_path.read_text()[-3000:]
                        assert time.monotonic() < deadline, f"serve did not register: {log_path.read_text()[-3000:]}"
                        time.sleep(0.5)
            _trigger_and_complete(env, prefect_server, log_path, "fineflow-download/stage-download")
        finally:
            stop(serving)
    rows = collect_status(Store(StorageConfig(root=str(store))), "download")
    assert [(r.shard, r.state.value) for r in rows] == [(crawl.paths[0], "committed")]


@pytest.mark.server
def test_fineflow_server_serves_a_ui_that_calls_its_own_port(tmp_path):
    import httpx

    from flows.server import SERVICE_SETTINGS
    from tests.conftest import free_port, wait_healthy

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    for name in SERVICE_SETTINGS:  # the command must set them itself
        env.pop(name, None)
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "server", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/api/health", proc, log_path)
            settings = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=10).json()
            assert settings["api_url"] == f"http://127.0.0.1:{port}/api"
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200  # the UI itself
            # uvicorn's "auto" loop and parser took the fast ones (a quarter of the server's CPU):
            # their compiled modules are mapped into the server's process.
            mapped = Path(f"/proc/{proc.pid}/maps").read_text()
            assert "/uvloop/loop." in mapped and "/httptools/parser/" in mapped
            # Task runs and events written in batches (flows/server.py).
            services = httpx.get(f"http://127.0.0.1:{port}/api/admin/settings", timeout=10).json()["server"]["services"]
            assert (services["task_run_recorder"]["batch_size"], services["event_persister"]["batch_size"]) == (100, 100)
        finally:
            stop(proc)
    out = log_path.read_text()
    assert f"Prefect UI: http://127.0.0.1:{port}" in out
    assert f"export PREFECT_API_URL=http://127.0.0.1:{port}/api" in out
