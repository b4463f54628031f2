"""The `fineflow` command: help, errors as one line, download, status, clean (the demo: test_reruns.py)."""

from __future__ import annotations

import json

import pytest

from flows.cli import main

COMMANDS = ["run", "stage", "download", "status", "clean", "demo"]


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS)])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fineflow")
    if not argv:
        assert all(c in out for c in COMMANDS)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("fineflow: "), err
    return err


def test_invalid_setting_exits_non_zero_naming_the_field(capsys, tmp_path):
    assert main(["download", "--concurrency", "0", "--storage", str(tmp_path)]) == 1
    assert "download.concurrency" in one_line_error(capsys)
    assert main(["download", "--set", "download.retries=lots", "--storage", str(tmp_path)]) == 1
    assert "download.retries: Input should be a valid integer" in one_line_error(capsys)
    assert main(["download", "--set", "nonsense", "--storage", str(tmp_path)]) == 1
    assert "expected section.field=value" in one_line_error(capsys)
    assert main(["download", "--shard", "5/2", "--storage", str(tmp_path)]) == 1
    assert "shard '5/2' must be 'i/n'" in one_line_error(capsys)


def test_conflicting_selection_flags_are_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as info:
        main(["download", "--max-warcs", "1", "--sample", "2"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_api")
def test_download_status_and_unknown_crawl(crawl, server, tmp_path, capsys):
    store = str(tmp_path / "store")
    base = ["--data-url", server.url, "--storage", store, "--set", "download.fetch.backoff_s=0.01"]
    assert main(["download", "--crawl", "CC-MAIN-1999-01", *base]) == 1
    assert "unknown crawl 'CC-MAIN-1999-01'" in one_line_error(capsys)
    assert not (tmp_path / "store" / "download").exists()

    assert main(["download", "--crawl", crawl.crawl, "--max-warcs", "2", *base]) == 0
    assert "download: 2 outputs (0 already in storage)" in capsys.readouterr().out

    assert main(["status", "--storage", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["stage"], r["state"], r["shard"]) for r in rows] == sorted(
        ("download", "committed", p) for p in crawl.paths[:2])
    assert all(r["counts"]["gzip_members"] == 40 and r["manifest"].endswith("_manifest.json") for r in rows)

    assert main(["status", "--storage", store]) == 0
    table = capsys.readouterr().out
    assert "2 committed" in table and crawl.paths[0] in table

    assert main(["clean", "--storage", store, "--min-age", "0"]) == 0
    assert "0 uncommitted output folder(s) removed" in capsys.readouterr().out
