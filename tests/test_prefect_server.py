"""The download flow run by the `fineflow` command against a real `prefect server start`."""

from __future__ import annotations

import pytest
from prefect import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from tests.flowtools import download_states, fineflow

pytestmark = pytest.mark.server


def test_flow_states_read_back_from_a_real_server(prefect_server, crawl, server, tmp_path):
    args = ["download", "--crawl", crawl.crawl, "--data-url", server.url, "--storage", str(tmp_path / "store"),
            "--all"]
    first = fineflow(prefect_server, *args)
    assert first.returncode == 0, first.stderr
    second = fineflow(prefect_server, *args)
    assert second.returncode == 0, second.stderr
    assert "3 already in storage" in second.stdout

    with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
        with get_client(sync_client=True) as client:
            runs = sorted(client.read_flow_runs(), key=lambda r: r.start_time)
        assert [r.state.name for r in runs] == ["Completed", "Completed"]
        assert all(r.flow_id == runs[0].flow_id for r in runs)
        names = {p.rsplit("/", 1)[-1] for p in crawl.paths}
        assert download_states(runs[0].id) == dict.fromkeys(names, "Completed")
        assert download_states(runs[1].id) == dict.fromkeys(names, "Cached")
    assert server.bytes_sent() == sum(len(crawl.bytes(p)) for p in crawl.paths)
