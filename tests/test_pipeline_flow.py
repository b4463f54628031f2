"""The pipeline flow on the sample crawl: chains per WARC, single stages, cache keys, artifacts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.cli import main
from flows.config import PipelineConfig
from flows.pipeline import run_pipeline
from tests.conftest import SAMPLE_CRAWL
from tests.crawlserver import CrawlServer
from tests.flowtools import newest_flow_run

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture(scope="module")
def sample_server():
    with CrawlServer(SAMPLE_CRAWL) as server:
        yield server


def config_for(server, root, **overrides) -> PipelineConfig:
    return PipelineConfig.load(overrides={
        "storage.root": str(root),
        "crawl": {"crawl": "latest", "data_url": server.url, "index_url": f"{server.url}/collinfo.json"},
        "download.selection": {"first": 2},
        "runner": {"kind": "threads", "workers": 2, "retries": 0},
        **overrides,
    })


def test_single_stage_runs_against_storage_and_names_what_is_missing(sample_server, tmp_path, capsys):
    base = ["--crawl", "latest", "--data-url", sample_server.url, "--index-url", f"{sample_server.url}/collinfo.json",
            "--storage", str(tmp_path), "--max-warcs", "1", "--set", "runner.kind=threads"]
    assert main(["stage", "filter", *base]) == 1
    err = capsys.readouterr().err
    assert "download output of crawl-data/CC-MAIN-SAMPLE/" in err and "is not in storage" in err

    assert main(["download", *base]) == 0
    assert main(["stage", "filter", *base]) == 1
    assert "extract output of" in capsys.readouterr().err

    sample_server.reset_log()
    assert main(["stage", "extract", *base]) == 0
    assert main(["stage", "filter", *base]) == 0
    # The stage's own flow ran, with the pipeline for that one stage as its subflow.
    stage_run, pipeline_run = newest_flow_run("fineflow-filter"), newest_flow_run("pipeline")
    assert (stage_run.name, stage_run.state.name) == ("filter latest", "Completed")
    assert (pipeline_run.name, pipeline_run.state.name) == ("filter latest", "Completed")
    assert pipeline_run.parent_task_run_id is not None and list(stage_run.parameters) == ["config"]
    assert main(["run", "--from", "dedup", "--until", "tokenize", *base, "--set", "tokenizer.vocab_size=1024"]) == 0
    assert main(["tokens", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "filter: 1 outputs (0 already in storage)" in out and "rejected:language" in out
    assert "dedup     read" in out and "tokenize: 1 outputs (0 already in storage)" in out
    assert sample_server.bytes_sent() == 0  # single stages read storage, never the crawl's WARCs


def run_artifact(flow_run_id, key: str):
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return artifact


def artifacts_of(flow_run_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def test_the_run_links_every_output_in_storage(sample_server, tmp_path):
    config = config_for(sample_server, tmp_path / "store", **{"download.selection": {"first": 1}})
    state = run_pipeline(config, "download", "filter", return_state=True)
    assert state.is_completed()
    [(path, refs)] = state.result().shards.items()
    for ref in refs.values():
        assert ref.url.startswith("file:///")
        folder = Path(unquote(urlsplit(ref.url).path))
        assert folder == tmp_path / "store" / ref.stage / ref.key and (folder / "_manifest.json").is_file()

    outputs, funnel = (run_artifact(state.state_details.flow_run_id, key)
                       for key in ("pipeline-outputs", "pipeline-funnel"))
    assert outputs.type == "markdown"
    label = path.rsplit("/", 1)[-1]
    row = next(line for line in outputs.data.splitlines() if line.startswith(f"| {label} |"))
    assert row == f"| {label} | " + " | ".join(f"[{refs[s].key}]({refs[s].url})"
                                              for s in ("download", "extract", "filter")) + " |"
    rows = funnel.data if isinstance(funnel.data, list) else json.loads(funnel.data)
    language = next(r for r in rows if r["outcome"] == "rejected:language")
    assert language["stage"] == "filter" and language["records"] == refs["filter"].counts["rejected:language"] > 0
    # One artifact with every link, not one per task run: each is an API call on the way
    # from one stage to the next (README, "Where Prefect's time goes").
    # (Prefect 3.8 stores a link artifact as unkeyed markdown.)
    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert {a.key for a in artifacts if a.type in ("markdown", "table")} == {
        "pipeline-funnel", "pipeline-outputs", "pipeline-summary"}

    # Prefect's cache records gone, the outputs still committed: the tasks run again, find
    # their outputs in storage, and the table marks them reused.
    shutil.rmtree(tmp_path / "store" / "_prefect" / "results")
    again = run_pipeline(config, "download", "filter", return_state=True)
    assert again.is_completed()
    relinked = run_artifact(again.state_details.flow_run_id, "pipeline-outputs").data
    for ref in refs.values():
        assert f"[{ref.key}]({ref.url}) *reused*" in relinked


def test_a_run_starts_without_asking_the_server_for_result_storage(sample_server, tmp_path, monkeypatch):
    # Each such question is a round trip before the run begins; the run's result storage is
    # the storage root's, and the flow's own result (references to outputs) is not persisted.
    from prefect.client.orchestration import SyncPrefectClient

    from flows.pipeline import pipeline_flow

    asked = []
    original = SyncPrefectClient.read_server_default_result_storage
    monkeypatch.setattr(SyncPrefectClient, "read_server_default_result_storage",
                        lambda client: asked.append(1) or original(client))
    config = config_for(sample_server, tmp_path / "store", **{"download.selection": {"first": 1}})
    state = run_pipeline(config, "download", "download", return_state=True)
    assert state.is_completed() and state.result().shards
    assert asked == []
    # The run had a copy of the flow with its storage set: the module's own is as defined.
    assert pipeline_flow.result_storage is None and pipeline_flow.persist_result is False


def test_a_run_that_fails_in_a_run_wide_stage_still_links_what_is_in_storage(sample_server, tmp_path):
    config = config_for(sample_server, tmp_path / "store", **{"download.selection": {"first": 1}})
    refs = next(iter(run_pipeline(config, "download", "filter").shards.values()))
    state = run_pipeline(config, "tokenizer", "tokenizer", return_state=True)
    assert state.is_failed()
    assert "dedup outputs are not in storage" in state.message
    outputs = run_artifact(state.state_details.flow_run_id, "pipeline-outputs").data
    for ref in refs.values():
        assert f"[{ref.key}]({ref.url}) *reused*" in outputs
