"""Extract and filter on the sample crawl, checked against its ground truth (expected.json)."""

from __future__ import annotations

import io
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest
import trafilatura

from storage import StorageConfig, Store
from storage.parquet import document_files
from tasks.accounting import AccountingError, check_balance
from tasks.extract import EXTRACT, ExtractJob, ExtractSettings
from tasks.filter import FILTER, FilterJob
from tasks.htmltext import decode_html
from tests.conftest import SAMPLE_CRAWL
from tests.conftest import SAMPLE_CRAWL_ID as CRAWL, SAMPLE_EXPECTED as EXPECTED, SAMPLE_PATHS as PATHS


def rows(store: Store, ref, prefix: str) -> list[dict]:
    out = []
    for name in ref.files:
        if name.startswith(prefix + "-"):
            with store.open(ref.path(name)) as f:
                out.extend(pq.read_table(f).to_pylist())
    return out


def expected_in(warc: str) -> list[dict]:
    return [e for e in EXPECTED if e["warc"] == warc]


def test_counts_add_up_and_match_the_ground_truth(sample_run):
    store, runs = sample_run
    for warc, refs in runs.items():
        truth = expected_in(warc)
        ex, fl = refs["extract"].counts, refs["filter"].counts
        check_balance(ex)
        check_balance(fl)
        assert ex["read"] == len(truth)
        kinds = Counter(e["kind"] for e in truth)
        assert ex.get("skipped:redirect", 0) == kinds["redirect"]
        assert ex.get("skipped:error_status", 0) == kinds["not_found"] + kinds["server_error"]
        assert ex.get("skipped:not_html", 0) == kinds["non_html"]
        assert ex.get("skipped:truncated", 0) == kinds["truncated"]
        assert ex.get("skipped:too_large", 0) == kinds["too_large"]
        blocked = sum(e["blocklisted"] for e in truth)
        assert sum(v for k, v in ex.items() if k.startswith("rejected:url_filter")) == blocked
        assert ex["kept"] == kinds["html"] - blocked
        assert fl["read"] == ex["kept"]
        assert len(rows(store, refs["extract"], "documents")) == ex["kept"]
        assert len(rows(store, refs["filter"], "documents")) == fl["kept"]
        assert len(rows(store, refs["filter"], "rejected")) == fl["read"] - fl["kept"]


def test_documents_follow_the_schema_with_stable_ids(sample_run):
    store, runs = sample_run
    refs = runs[PATHS[0].rsplit("/", 1)[-1]]
    docs = rows(store, refs["extract"], "documents")
    by_id = {e["record_id"].strip("<>").removeprefix("urn:uuid:"): e for e in EXPECTED}
    for doc in docs:
        truth = by_id[doc["id"]]
        assert doc["url"] == truth["url"] and doc["crawl"] == CRAWL and doc["warc_path"] == PATHS[0]
        assert doc["date"] is not None and doc["text"]
    kept = rows(store, refs["filter"], "documents")
    assert all(d["language"] == "en" and d["language_score"] > 0.65 for d in kept)


def test_non_utf8_pages_come_out_as_correct_text(sample_run):
    store, runs = sample_run
    docs = {d["url"]: d["text"] for refs in runs.values() for d in rows(store, refs["extract"], "documents")}
    checked = 0
    for e in EXPECTED:
        if e["kind"] == "html" and e["charset"] not in ("utf-8", "ascii") and not e["blocklisted"]:
            text = docs[e["url"]]
            for paragraph in e["paragraphs"]:
                assert paragraph[:60] in text, (e["url"], e["charset"], e["charset_label"])
            checked += 1
    labels = {e["charset_label"] for e in EXPECTED if e["charset"] != "utf-8"}
    assert checked >= 20 and {"header", "meta", "none", "wrong_header"} <= labels


def test_url_filter_blocks_listed_domains_and_words_not_lookalikes(sample_run):
    store, runs = sample_run
    rejected = {r["url"]: r["reason"] for refs in runs.values() for r in rows(store, refs["extract"], "rejected")}
    kept = {d["url"] for refs in runs.values() for d in rows(store, refs["extract"], "documents")}
    blocked = {e["url"] for e in EXPECTED if e["blocklisted"]}
    lookalikes = {e["url"] for e in EXPECTED if e["lookalike"]}
    assert set(rejected) == blocked and len(blocked) >= 5
    assert all(reason.startswith("url_filter:") for reason in rejected.values())
    assert lookalikes and lookalikes <= kept
    assert any("sussex" in u for u in lookalikes) and any("scunthorpe" in u for u in lookalikes)


def test_the_url_block_lists_stay_out_of_the_garbage_collectors_way():
    import gc

    from tasks.urlfilter import UrlFilter, UrlFilterSettings, _datatrove_url_filter

    block = _datatrove_url_filter(2, True)
    # Millions of entries, tested for membership only: a tracked container would be walked
    # by every full collection of every process that extracts.
    assert len(block.block_listed_domains) > 1_000_000
    assert not gc.is_tracked(block.block_listed_domains) and not gc.is_tracked(block.block_listed_url)
    domain = next(d for d in block.block_listed_domains if re.fullmatch(r"[a-z0-9-]+\.com", d))
    url_filter = UrlFilter(UrlFilterSettings())
    assert url_filter.check(f"https://{domain}/page") in {"url_filter:domain", "url_filter:subdomain"}
    assert url_filter.check("https://example.org/page") is None


def test_other_languages_are_rejected_with_their_detected_language(sample_run):
    store, runs = sample_run
    rejected = {r["url"]: r for refs in runs.values() for r in rows(store, refs["filter"], "rejected")}
    foreign = [e for e in EXPECTED if e["kind"] == "html" and e["language"] not in (None, "en")
               and not e["blocklisted"]]
    assert len({e["language"] for e in foreign}) >= 9
    for e in foreign:
        row = rejected[e["url"]]
        assert row["reason"] == "language" and row["language"] == e["language"], e["url"]
        assert row["text"]  # a user can read what was thrown away


def test_low_quality_english_pages_are_rejected_by_a_quality_filter(sample_run):
    store, runs = sample_run
    rejected = {r["url"]: r["reason"] for refs in runs.values() for r in rows(store, refs["filter"], "rejected")}
    kept = {d["url"] for refs in runs.values() for d in rows(store, refs["filter"], "documents")}
    low = [e["url"] for e in EXPECTED if e["quality"] == "low" and e["kind"] == "html" and not e["blocklisted"]]
    assert low and all(u in rejected for u in low)
    assert {rejected[u].split(":")[0] for u in low} - {"language"} <= {
        "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"}
    good = [e["url"] for e in EXPECTED if e["quality"] == "good" and e["language"] == "en" and not e["blocklisted"]
            and e["kind"] == "html"]
    assert sum(u in kept for u in good) >= 0.95 * len(good)


def test_text_equals_trafilatura_with_the_same_settings(sample_run):
    store, runs = sample_run
    from warcio.archiveiterator import ArchiveIterator

    docs = {d["url"]: d["text"] for refs in runs.values() for d in rows(store, refs["extract"], "documents")}
    compared = 0
    with open(SAMPLE_CRAWL / PATHS[1], "rb") as f:
        for record in ArchiveIterator(f):
            url = record.rec_headers.get_header("WARC-Target-URI")
            if record.rec_type != "response" or url not in docs or compared >= 25:
                continue
            html, _ = decode_html(record.content_stream().read(), record.http_headers.get_header("Content-Type"))
            expected = trafilatura.extract(html, favor_precision=True, include_comments=False, deduplicate=True)
            assert docs[url] == expected
            compared += 1
    assert compared == 25


def test_changed_filter_threshold_changes_only_the_filter_key(sample_run):
    store, runs = sample_run
    refs = runs[PATHS[0].rsplit("/", 1)[-1]]
    base = FilterJob(storage=store.config, shard=PATHS[0], sources=[refs["extract"]])
    stricter = base.model_copy(update={"settings": base.settings.model_copy(
        update={"language": base.settings.language.model_copy(update={"threshold": 0.9})})})
    assert FILTER.key(base) == refs["filter"].key and FILTER.key(stricter) != FILTER.key(base)


def make_warc(pages: dict[str, bytes]) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for url, body in pages.items():
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))
    return buffer.getvalue()


def committed_warc(tmp_path, data: bytes):
    from tasks.stage import Stage, StageJob, StageResult

    class Fixture(StageJob):
        pass

    def write(job, out, ctx):
        with out.open("fixture.warc.gz") as f:
            f.write(data)
        return StageResult(counts={"bytes": len(data)})

    storage = StorageConfig(root=str(tmp_path))
    return storage, Stage(name="download", version="fixture", work=write).run(Fixture(storage=storage, shard="fixture.warc.gz"))


GOOD = ("<html><body><article><h1>Notes</h1>" + "".join(
    f"<p>This is paragraph {i} of a perfectly ordinary page about gardening in the spring.</p>" for i in range(8))
    + "</article></body></html>").encode()


def test_a_page_that_times_out_is_skipped_and_the_rest_kept(tmp_path):
    slow = ("<html><body><article>" + "".join(
        f"<p>Paragraph number {i} has some words in it, like this sentence here.</p>" for i in range(12000))
        + "</article></body></html>").encode()
    storage, source = committed_warc(tmp_path, make_warc({
        "https://a.example/1": GOOD, "https://slow.example/": slow, "https://a.example/2": GOOD}))
    job = ExtractJob(storage=storage, shard="fixture", crawl="X", sources=[source],
                     settings=ExtractSettings(timeout_s=0.3))
    ref = EXTRACT.run(job)
    assert ref.counts["read"] == 3 and ref.counts["kept"] == 2 and ref.counts["skipped:timeout"] == 1


def test_a_record_that_makes_a_library_raise_is_skipped_with_its_type(tmp_path, monkeypatch):
    import tasks.extract as extract

    real = extract.decode_html

    def flaky(body, content_type):
        if b"explode" in body:
            raise LookupError("codec machinery broke")
        return real(body, content_type)

    monkeypatch.setattr(extract, "decode_html", flaky)
    storage, source = committed_warc(tmp_path, make_warc({
        "https://a.example/1": GOOD, "https://b.example/": GOOD.replace(b"Notes", b"explode")}))
    ref = EXTRACT.run(ExtractJob(storage=storage, shard="fixture", crawl="X", sources=[source]))
    assert ref.counts == {"read": 2, "kept": 1, "skipped:error:LookupError": 1}


def test_filter_refuses_a_source_whose_counts_do_not_match_its_documents(sample_run, tmp_path):
    store, runs = sample_run
    refs = runs[PATHS[2].rsplit("/", 1)[-1]]
    lying = refs["extract"].model_copy(update={"counts": {**refs["extract"].counts,
                                                          "kept": refs["extract"].counts["kept"] + 1}})
    job = FilterJob(storage=StorageConfig(root=str(tmp_path)), shard=PATHS[2], sources=[lying])
    # The documents live in the sample store; point the job there through a copy of its files.
    job = job.model_copy(update={"storage": store.config})
    with pytest.raises(AccountingError, match=r"read \d+ documents but the stage before kept \d+"):
        FILTER.run(job.model_copy(update={"settings": job.settings.model_copy(update={"batch_size": 512})}))


def test_balance_check_names_the_difference():
    with pytest.raises(AccountingError, match=r"read 10 != kept 5 \+ rejected 2 \+ skipped 1 \(\+2 unaccounted\)"):
        check_balance({"read": 10, "kept": 5, "rejected:x": 2, "skipped:y": 1})
    assert document_files(["documents-00001.parquet", "rejected-00000.parquet", "documents-00000.parquet"]) == [
        "documents-00000.parquet", "documents-00001.parquet"]


def test_the_sandbox_child_has_trafilatura_loaded_and_not_prefect():
    """The child unpickles the sandbox's class: were it in tasks.extract, every child would
    import Prefect (seconds of CPU per WARC file)."""
    from tasks.extract import Extractor
    from tests.sandbox_probe import loaded_modules

    with Extractor(ExtractSettings()) as extractor:
        loaded = extractor.sandbox.process_document("<html><body><p>probe</p></body></html>", loaded_modules)
    assert loaded.split(",") == ["trafilatura"]
