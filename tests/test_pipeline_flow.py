"""The pipeline flow on the sample crawl: chains per WARC, single stages, cache keys, artifacts."""

from __future__ import annotations

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.cli import main
from flows.config import PipelineConfig
from flows.pipeline import run_pipeline
from tests.conftest import SAMPLE_CRAWL
from tests.crawlserver import CrawlServer
from tests.flowtools import task_states

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


def states_by_stage(flow_run_id) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, state in task_states(flow_run_id).items():
        stage = name.split(" ", 1)[0]
        if stage in ("download", "extract", "filter"):
            out.setdefault(stage, set()).add(state)
    return out


def test_changed_filter_setting_recomputes_filter_only(sample_server, tmp_path):
    state = run_pipeline(config_for(sample_server, tmp_path), "download", "filter", return_state=True)
    assert state.is_completed()
    results = state.result().shards
    assert len(results) == 2 and all(set(refs) == {"download", "extract", "filter"} for refs in results.values())
    assert states_by_stage(state.state_details.flow_run_id) == {s: {"Completed"} for s in ("download", "extract", "filter")}

    with get_client(sync_client=True) as client:
        [funnel] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["pipeline-funnel"])),
                                         limit=1)
    rows = funnel.data if isinstance(funnel.data, list) else __import__("json").loads(funnel.data)
    assert {"stage": "filter", "outcome": "rejected:language"}.items() <= next(
        r for r in rows if r["outcome"] == "rejected:language").items()

    stricter = config_for(sample_server, tmp_path, **{"filter.language.threshold": 0.95})
    state = run_pipeline(stricter, "download", "filter", return_state=True)
    assert state.is_completed()
    assert states_by_stage(state.state_details.flow_run_id) == {
        "download": {"Cached"}, "extract": {"Cached"}, "filter": {"Completed"}}
    kept_before = sum(r["filter"].counts["kept"] for r in results.values())
    kept_after = sum(r["filter"].counts["kept"] for r in state.result().shards.values())
    assert kept_after < kept_before


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
    assert main(["run", "--from", "dedup", "--until", "tokenize", *base, "--set", "tokenizer.vocab_size=1024"]) == 0
    assert main(["tokens", "--storage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "filter: 1 outputs (0 already in storage)" in out and "rejected:language" in out
    assert "dedup     read" in out and "tokenize: 1 outputs (0 already in storage)" in out
    assert sample_server.bytes_sent() == 0  # single stages read storage, never the crawl's WARCs
