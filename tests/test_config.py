"""PipelineConfig: YAML, overrides, and errors that name the field."""

from __future__ import annotations

import pytest

from flows.config import ConfigError, PipelineConfig


def test_defaults_are_safe_for_a_real_crawl():
    config = PipelineConfig()
    assert config.crawl.crawl == "latest" and config.crawl.data_url == "https://data.commoncrawl.org"
    assert config.download.selection.first == 1  # one WARC file unless asked for more
    assert config.storage.root == "./data"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("storage:\n  root: s3://bucket/x\ncrawl:\n  crawl: CC-MAIN-2024-10\n"
                    "download:\n  concurrency: 8\n  selection: {sample: 5, seed: 3}\n")
    config = PipelineConfig.load(path, {"download.concurrency": 2})
    assert config.storage.root == "s3://bucket/x" and config.crawl.crawl == "CC-MAIN-2024-10"
    assert config.download.concurrency == 2
    assert config.download.selection.sample == 5 and config.download.selection.first is None


@pytest.mark.parametrize("overrides, message", [
    ({"download.concurrency": 0}, "download.concurrency: Input should be greater than or equal to 1"),
    ({"download.concurency": 3}, "download.concurency: unknown setting"),
    ({"crawl.crawl": "a/b"}, "crawl.crawl: 'a/b' is not a crawl id"),
    ({"crawl.data_url": "ftp://x"}, "crawl.data_url: 'ftp://x' is not an https://, s3:// or file:// URL"),
    ({"storage.root": "gopher://x"}, "storage.root: unsupported storage protocol 'gopher'"),
    ({"download.selection": {"first": 1, "shard": "0/2"}}, "download.selection: choose WARC files one way only"),
])
def test_invalid_values_name_the_field(overrides, message):
    with pytest.raises(ConfigError, match="invalid configuration: ") as info:
        PipelineConfig.load(overrides=overrides)
    assert message in str(info.value)


def test_unreadable_or_malformed_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        PipelineConfig.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        PipelineConfig.load(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        PipelineConfig.load(listy)
