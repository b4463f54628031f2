"""The pipeline on prefect-dask: a distributed.LocalCluster of worker processes, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from prefect_dask import DaskTaskRunner

from flows.config import PipelineConfig
from flows.runners import task_runner_for
from tests.conftest import SAMPLE_CRAWL, SAMPLE_PATHS


def test_dask_runner_settings():
    local = task_runner_for(PipelineConfig.load(overrides={"runner": {"kind": "dask", "workers": 3}}),
                            "download", "filter")
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_class == "distributed.LocalCluster" or getattr(local.cluster_class, "__name__", "") == "LocalCluster"
    assert {"n_workers": 3, "processes": True, "threads_per_worker": 1}.items() <= local.cluster_kwargs.items()
    remote = task_runner_for(PipelineConfig.load(overrides={"runner": {"kind": "dask",
                                                                       "dask_address": "tcp://10.0.0.5:8786"}}),
                             "download", "download")
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_cli_maps_runner_flags(capsys):
    from flows.cli import build_config, make_parser, main

    args = make_parser().parse_args(["run", "--runner", "dask", "--dask-address", "tcp://h:8786", "--workers", "2"])
    runner = build_config(args).runner
    assert (runner.kind, runner.dask_address, runner.workers) == ("dask", "tcp://h:8786", 2)
    assert build_config(make_parser().parse_args(["stage", "filter", "--dask-address", "tcp://h:1"])).runner.kind == "dask"
    assert main(["download", "--runner", "threads", "--dask-address", "tcp://h:1"]) == 1
    assert "--dask-address needs --runner dask" in capsys.readouterr().err


def test_pipeline_on_a_local_dask_cluster(tmp_path):
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the command starts its own server
    argv = [sys.executable, "-m", "flows.cli", "run", "--until", "filter", "--runner", "dask", "--workers", "2",
            "--crawl", "latest", "--data-url", SAMPLE_CRAWL.as_uri(), "--index-url",
            (SAMPLE_CRAWL / "collinfo.json").as_uri(), "--storage", str(store), "--max-warcs", "1"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "filter: 1 outputs (0 already in storage)" in done.stdout

    status = subprocess.run([sys.executable, "-m", "flows.cli", "status", "--storage", str(store), "--json"],
                            env=env, capture_output=True, text=True, timeout=60)
    rows = json.loads(status.stdout)
    committed = {(r["stage"], r["shard"]) for r in rows if r["state"] == "committed"}
    assert {(s, SAMPLE_PATHS[0]) for s in ("download", "extract", "filter")} <= committed
