"""Resolving crawls, reading warc.paths.gz, and choosing WARC files."""

from __future__ import annotations

import gzip
import json

import pytest

from tasks.commoncrawl import CrawlSettings, Selection, list_warc_paths, parse_paths, resolve_crawl
from tasks.fetch import FetchSettings
from tasks.stage import PermanentError
from tests.crawlserver import CrawlServer

FAST = FetchSettings(backoff_s=0.01, max_retries=2)
PATHS = [f"crawl-data/C/segments/1/warc/f{i}.warc.gz" for i in range(10)]


def test_latest_is_the_first_entry_of_collinfo(crawl, server):
    settings = CrawlSettings(crawl="latest", data_url=server.url, index_url=f"{server.url}/collinfo.json")
    assert resolve_crawl(settings, FAST) == crawl.crawl
    assert resolve_crawl(CrawlSettings(crawl="CC-MAIN-2024-10"), FAST) == "CC-MAIN-2024-10"


def test_collinfo_that_is_not_a_crawl_list_is_a_clear_error(tmp_path):
    (tmp_path / "collinfo.json").write_text(json.dumps({"not": "a list"}))
    settings = CrawlSettings(index_url=(tmp_path / "collinfo.json").as_uri())
    with pytest.raises(PermanentError, match="is not a Common Crawl collinfo.json"):
        resolve_crawl(settings, FAST)


@pytest.mark.parametrize("via", ["http", "file"])
def test_paths_listed_over_http_and_file(crawl, server, via):
    data_url = server.url if via == "http" else crawl.url
    assert list_warc_paths(CrawlSettings(data_url=data_url), crawl.crawl, FAST) == crawl.paths


def test_unknown_crawl_names_the_crawl(crawl, server):
    with pytest.raises(PermanentError, match=r"unknown crawl 'CC-MAIN-1999-01'.*warc.paths.gz does not exist"):
        list_warc_paths(CrawlSettings(data_url=server.url), "CC-MAIN-1999-01", FAST)


def test_crawl_id_with_path_characters_is_refused():
    with pytest.raises(ValueError, match="is not a crawl id"):
        CrawlSettings(crawl="../etc")


def test_paths_file_that_is_not_gzip():
    with pytest.raises(PermanentError, match="is not gzip"):
        parse_paths(b"crawl-data/C/x.warc.gz\n", "C", "warc.paths.gz")
    with pytest.raises(PermanentError, match="not a readable gzipped"):
        parse_paths(b"\x1f\x8b\x08\x00garbage", "C", "warc.paths.gz")


@pytest.mark.parametrize("line, problem", [
    ("crawl-data/C/../../etc/passwd", "escapes the crawl"),
    ("/crawl-data/C/x.warc.gz", "is absolute"),
    ("https://evil.example/crawl-data/C/x.warc.gz", "names a host"),
    ("//evil.example/x.warc.gz", "names a host"),
    ("crawl-data/OTHER/x.warc.gz", "outside crawl-data/C/"),
])
def test_path_lines_escaping_the_crawl_are_refused(line, problem):
    raw = gzip.compress(f"crawl-data/C/ok.warc.gz\n{line}\n".encode())
    with pytest.raises(PermanentError, match=f"line 2: .*{problem}"):
        parse_paths(raw, "C", "warc.paths.gz")


def test_selection_ways():
    assert Selection(first=3).apply(PATHS) == PATHS[:3]
    assert Selection(shard="1/4").apply(PATHS) == [PATHS[1], PATHS[5], PATHS[9]]
    assert Selection().apply(PATHS) == PATHS
    sample = Selection(sample=4, seed=7).apply(PATHS)
    assert len(sample) == 4 and sample == Selection(sample=4, seed=7).apply(PATHS)
    assert sample == sorted(sample, key=PATHS.index) and sample != Selection(sample=4, seed=8).apply(PATHS)
    assert Selection(paths=[PATHS[2], PATHS[0]]).apply(PATHS) == [PATHS[2], PATHS[0]]
    with pytest.raises(PermanentError, match="not in the crawl's list"):
        Selection(paths=["crawl-data/C/nope.warc.gz"]).apply(PATHS)


def test_selection_refuses_two_ways_and_bad_shards():
    with pytest.raises(ValueError, match="one way only"):
        Selection(first=2, sample=3)
    for bad in ("4/4", "1", "a/b", "0/0"):
        with pytest.raises(ValueError, match="must be 'i/n'"):
            Selection(shard=bad)


def test_paths_file_served_with_faults_is_still_read(crawl):
    with CrawlServer(crawl.root) as srv:
        from tests.crawlserver import Fault

        srv.inject(f"crawl-data/{crawl.crawl}/warc.paths.gz", Fault.status(503, retry_after=0), times=2)
        assert list_warc_paths(CrawlSettings(data_url=srv.url), crawl.crawl, FAST) == crawl.paths
