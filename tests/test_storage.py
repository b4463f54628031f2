"""The store, stage outputs and their manifests, on local folders and in memory."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid

import pytest

from storage import (
    MANIFEST_NAME, OutputState, StorageConfig, Store, content_key, digest,
)
from storage.runs import PlannedOutput, RunPlan, write_plan
from storage.status import collect_status


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path) -> Store:
    if request.param == "local":
        return Store(str(tmp_path / "root"))
    return Store(f"memory://ff-{uuid.uuid4().hex}")


def write_output(store: Store, key: str = "k1", files: dict[str, bytes] | None = None, stage: str = "download"):
    writer = store.output(stage, key).begin()
    for name, data in (files or {"a.bin": b"x" * 1000}).items():
        with writer.open(name) as f:
            f.write(data)
    return writer.commit(shard=f"shard-{key}", config_digest="c", inputs=["i1"], counts={"n": 1}, stage_version="1")


def test_manifest_lists_every_file_with_size_and_checksum(store):
    data = os.urandom(3000)
    manifest = write_output(store, files={"a.bin": data, "sub/b.txt": b"hello"})
    assert [(f.path, f.size) for f in manifest.files] == [("a.bin", 3000), ("sub/b.txt", 5)]
    assert manifest.file("a.bin").sha256 == hashlib.sha256(data).hexdigest()
    on_disk = json.loads(store.read_bytes(f"download/k1/{MANIFEST_NAME}"))
    assert on_disk["counts"] == {"n": 1} and on_disk["inputs"] == ["i1"] and on_disk["stage_version"] == "1"
    assert on_disk["duration_s"] >= 0 and on_disk["started_at"] <= on_disk["finished_at"]


def test_output_invisible_until_manifest_written(store):
    output = store.output("download", "k1")
    assert output.state() == OutputState.MISSING
    writer = output.begin()
    with writer.open("a.bin") as f:
        f.write(b"data")
    assert output.state() == OutputState.PARTIAL and output.committed() is None
    writer.commit(shard="s", config_digest="c", inputs=[], counts={}, stage_version="1")
    assert output.state() == OutputState.COMMITTED


def test_missing_file_or_wrong_size_or_damaged_manifest_is_not_committed(store):
    write_output(store, files={"a.bin": b"1234", "b.bin": b"5678"})
    output = store.output("download", "k1")
    store.rm("download/k1/b.bin")
    assert output.committed() is None and output.state() == OutputState.PARTIAL

    write_output(store, key="k2", files={"a.bin": b"1234"})
    with store.open("download/k2/a.bin", "wb") as f:
        f.write(b"12")
    assert store.output("download", "k2").committed() is None

    write_output(store, key="k3")
    store.write_atomic(f"download/k3/{MANIFEST_NAME}", b'{"stage": "download", "trunc')
    assert store.output("download", "k3").committed() is None


def test_begin_clears_leftovers_of_an_earlier_attempt(store):
    writer = store.output("download", "k1").begin()
    with writer.open("old.bin") as f:
        f.write(b"garbage")
    writer.fail("boom")
    assert store.output("download", "k1").state() == OutputState.FAILED
    write_output(store, files={"new.bin": b"fresh"})
    assert store.listdir("download/k1") == [MANIFEST_NAME, "new.bin"]
    assert store.output("download", "k1").read_failure() is None


def test_reserved_and_escaping_names_are_refused(store):
    writer = store.output("download", "k1").begin()
    for bad in ("_manifest.json", "../x", "a/../../b", ""):
        with pytest.raises(ValueError):
            writer.open(bad)
    with pytest.raises(ValueError, match="escapes the storage root"):
        store.path("../outside")


def test_discarded_file_is_not_recorded(store):
    writer = store.output("download", "k1").begin()
    with pytest.raises(RuntimeError):
        with writer.open("a.bin") as f:
            f.write(b"half")
            raise RuntimeError("source died")
    assert writer.files == []


def test_content_key_changes_with_version_config_and_inputs():
    base = content_key("filter", "1", {"threshold": 0.65}, ["d1", "d2"])
    assert base == content_key("filter", "1", {"threshold": 0.65}, ["d1", "d2"])
    assert len(base) == 16
    assert base != content_key("filter", "2", {"threshold": 0.65}, ["d1", "d2"])
    assert base != content_key("filter", "1", {"threshold": 0.7}, ["d1", "d2"])
    assert base != content_key("filter", "1", {"threshold": 0.65}, ["d1", "d3"])
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})


def test_manifest_digest_ignores_timing_but_not_content(store):
    first = write_output(store, key="k1", files={"a.bin": b"same"})
    time.sleep(0.01)
    again = write_output(store, key="k1", files={"a.bin": b"same"})
    assert first.digest == again.digest and first.finished_at != again.finished_at
    other = write_output(store, key="k1", files={"a.bin": b"diff"})
    assert other.digest != first.digest


def test_clean_uncommitted_spares_committed_and_recent(store):
    write_output(store, key="done")
    store.output("download", "partial").begin().open("a.bin").close()
    assert store.clean_uncommitted(min_age_s=3600) == []
    assert store.clean_uncommitted(min_age_s=0) == ["download/partial"]
    assert store.output("download", "done").state() == OutputState.COMMITTED
    assert store.output("download", "partial").state() == OutputState.MISSING


def test_status_reports_committed_failed_partial_and_planned_missing(store):
    write_output(store, key="ok")
    store.output("download", "bad").begin().fail("PermanentError: 404", shard="shard-bad")
    store.output("download", "half").begin().open("a.bin").close()
    write_plan(store, RunPlan(flow="download", outputs=[
        PlannedOutput(stage="download", key=k, shard=f"shard-{k}") for k in ("ok", "bad", "half", "never")
    ]))
    rows = {r.key: r for r in collect_status(store)}
    assert rows["ok"].state == OutputState.COMMITTED and rows["ok"].counts == {"n": 1}
    assert rows["ok"].manifest.endswith(f"download/ok/{MANIFEST_NAME}")
    assert rows["bad"].state == OutputState.FAILED and "404" in rows["bad"].error
    assert rows["half"].state == OutputState.PARTIAL and rows["half"].shard == "shard-half"
    assert rows["never"].state == OutputState.MISSING and rows["never"].planned


def test_local_atomic_write_leaves_no_temporary_files(tmp_path):
    store = Store(str(tmp_path))
    store.write_atomic("x/_manifest.json", b"{}")
    store.write_atomic("x/_manifest.json", b'{"a": 1}')
    assert os.listdir(tmp_path / "x") == ["_manifest.json"]
    assert store.read_json("x/_manifest.json") == {"a": 1}


def test_storage_config_rejects_unknown_protocols_and_hides_credentials():
    with pytest.raises(ValueError, match="unsupported storage protocol 'gopher'"):
        StorageConfig(root="gopher://x/y")
    with pytest.raises(ValueError, match="names no bucket"):
        StorageConfig(root="s3://")
    config = StorageConfig(root="s3://bucket/prefix", key="AKIAEXAMPLE", secret="very-secret")
    assert "very-secret" not in repr(config) and "very-secret" not in config.model_dump_json()
    assert "secret" not in config.public_options() and config.fsspec_options()["secret"] == "very-secret"
    assert Store("file:///tmp/abc").path("x") == "/tmp/abc/x"
