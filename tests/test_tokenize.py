"""The tokenize stage: every document back from the token shards, a split that no sharding
changes, shards plain readers open, bounded files, keys, the Prefect tasks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect import flow
from tokenizers import Tokenizer, models, pre_tokenizers

from storage import OutputState, StorageConfig, Store
from tasks.stage import OutputRef, PermanentError, for_storage
from tasks.tokenize import (
    TOKENIZE, TokenizeJob, TokenizeSettings, describe_tokens, latest_token_outputs, tokenize_job, tokenize_jobs,
    tokenize_task, token_totals,
)
import tasks.tokenizer as tokenizer_module
from tasks.tokenizer import (
    ENDOFTEXT, SPLIT_SALT, TOKENIZER, TOKENIZER_FILE, TokenizerSettings, id_hash, new_tokenizer, size_thread_pool,
    tokenizer_job, tokenizer_task,
)
from tests.documents_fixture import LANGUAGES, TRICKY, documents_output, sample_documents, sharded
from tests.flowtools import task_states

VOCAB = 1024
FRACTION = 0.2
SETTINGS = TokenizeSettings(validation_fraction=FRACTION, batch_size=50)


def tricky_documents() -> list[dict]:
    return [{"id": f"tricky-{i}", "url": None, "crawl": None, "warc_path": None, "date": None, "language": None,
             "language_score": None, "text": text} for i, text in enumerate(TRICKY)]


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> StorageConfig:
    return StorageConfig(root=str(tmp_path_factory.mktemp("tokenize-store")))


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return sample_documents() + tricky_documents()


@pytest.fixture(scope="module")
def doc_refs(storage, docs) -> list[OutputRef]:
    return sharded(storage, docs, outputs=3, rows_per_file=40)


@pytest.fixture(scope="module")
def tokenizer_ref(storage, doc_refs) -> OutputRef:
    return TOKENIZER.run(tokenizer_job(storage, doc_refs, TokenizerSettings(vocab_size=VOCAB)))


@pytest.fixture(scope="module")
def token_refs(storage, doc_refs, tokenizer_ref) -> list[OutputRef]:
    return [TOKENIZE.run(job) for job in tokenize_jobs(storage, doc_refs, tokenizer_ref, SETTINGS)]


def read_rows(storage: StorageConfig, refs: list[OutputRef], split: str) -> list[dict]:
    store = Store(storage)
    return [row for ref in refs for name in ref.files if name.startswith(f"{split}-")
            for row in pq.read_table(store.path(ref.path(name))).to_pylist()]


def duckdb_one(sql: str) -> tuple:
    import duckdb

    with duckdb.connect() as con:
        (row,) = con.execute(sql).fetchall()
    return row


def test_every_document_comes_back_from_the_token_shards(storage, docs, token_refs, tokenizer_ref):
    tokenizer = Tokenizer.from_str(Store(storage).read_bytes(tokenizer_ref.path(TOKENIZER_FILE)).decode())
    eot = tokenizer.token_to_id(ENDOFTEXT)
    rows = {split: read_rows(storage, token_refs, split) for split in ("train", "validation")}
    by_id = {row["doc_id"]: row for split_rows in rows.values() for row in split_rows}
    assert len(by_id) == sum(len(r) for r in rows.values()) == len(docs)
    for doc in docs:
        ids = by_id[doc["id"]]["input_ids"]
        assert by_id[doc["id"]]["n_tokens"] == len(ids)
        assert ids[-1] == eot and eot not in ids[:-1]  # "<|endoftext|>" quoted in a page stays text
        assert tokenizer.decode(ids[:-1], skip_special_tokens=False) == doc["text"], doc["id"]
    assert LANGUAGES <= {d["language"] for d in docs}

    totals = token_totals(token_refs)
    assert totals == {
        "documents": len(docs), "bytes": sum(len(d["text"].encode()) for d in docs),
        "documents_train": len(rows["train"]), "documents_validation": len(rows["validation"]),
        "tokens_train": sum(r["n_tokens"] for r in rows["train"]),
        "tokens_validation": sum(r["n_tokens"] for r in rows["validation"]),
    }


def test_split_is_the_same_however_the_documents_are_sharded(storage, docs, token_refs, tokenizer_ref, tmp_path):
    expected = {d["id"] for d in docs if id_hash(d["id"], SPLIT_SALT) < FRACTION * 2**64}
    assert {r["doc_id"] for r in read_rows(storage, token_refs, "validation")} == expected
    assert 0.1 < len(expected) / len(docs) < 0.3

    one = documents_output(storage, list(reversed(docs)), shard="all-in-one", rows_per_file=1000)
    (ref,) = [TOKENIZE.run(job) for job in tokenize_jobs(storage, [one], tokenizer_ref,
                                                         SETTINGS.model_copy(update={"batch_size": 7}))]
    assert {r["doc_id"] for r in read_rows(storage, [ref], "validation")} == expected
    assert ref.counts["tokens_validation"] == token_totals(token_refs)["tokens_validation"]


def test_shards_open_in_pyarrow_duckdb_and_datasets_without_custom_code(storage, token_refs, tmp_path):
    from datasets import load_dataset

    store = Store(storage)
    files = {split: [store.path(ref.path(n)) for ref in token_refs for n in ref.files if n.startswith(f"{split}-")]
             for split in ("train", "validation")}
    totals = token_totals(token_refs)

    table = pq.read_table(files["train"][0])
    assert table.schema.field("input_ids").type == pa.list_(pa.uint16())
    assert pq.ParquetFile(files["train"][0]).metadata.row_group(0).column(1).compression == "ZSTD"

    listed = ", ".join(f"'{f}'" for f in files["train"])
    n_docs, n_tokens, type_name = duckdb_one(
        f"select count(*), sum(n_tokens), typeof(any_value(input_ids)) from read_parquet([{listed}])")
    assert (n_docs, n_tokens, type_name) == (totals["documents_train"], totals["tokens_train"], "USMALLINT[]")
    assert duckdb_one(f"select sum(len(input_ids)) from read_parquet([{listed}])") == (n_tokens,)

    dataset = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf-cache"))
    assert dataset["train"].num_rows == totals["documents_train"]
    assert dataset["validation"].num_rows == totals["documents_validation"]
    assert dataset["train"].features["input_ids"].feature.dtype == "uint16"
    assert sum(dataset["validation"]["n_tokens"]) == totals["tokens_validation"]
    assert dataset["train"][0]["input_ids"] == table.column("input_ids")[0].as_py()


def test_a_vocabulary_beyond_16_bits_gets_uint32_ids(tmp_path, docs):
    """A supplied tokenizer with 70,000 tokens: ids are uint32 however small the ids used."""
    tokenizer = new_tokenizer()
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({f"unused{i}": len(vocab) + i for i in range(70_000)})
    vocab[ENDOFTEXT] = len(vocab)
    tokenizer.model = models.BPE(vocab=vocab, merges=[])
    path = tmp_path / "big.json"
    tokenizer.save(str(path))

    storage = StorageConfig(root=str(tmp_path / "store"))
    tok_ref = TOKENIZER.run(tokenizer_job(storage, [], TokenizerSettings(path=str(path))))
    assert tok_ref.counts["vocab_size"] == len(vocab) > 2**16
    docs_ref = documents_output(storage, docs[:20])
    (ref,) = [TOKENIZE.run(job) for job in tokenize_jobs(storage, [docs_ref], tok_ref, SETTINGS)]
    train = Store(storage).path(ref.path("train-00000.parquet"))
    assert pq.read_schema(train).field("input_ids").type == pa.list_(pa.uint32())
    assert duckdb_one(f"select typeof(any_value(input_ids)) from '{train}'") == ("UINTEGER[]",)
    row = pq.read_table(train).to_pylist()[0]
    text = next(d["text"] for d in docs if d["id"] == row["doc_id"])
    assert row["input_ids"][-1] == vocab[ENDOFTEXT] and tokenizer.decode(row["input_ids"][:-1]) == text


def test_batch_size_and_threads_change_neither_key_nor_bytes(storage, doc_refs, tokenizer_ref, token_refs):
    job = tokenize_jobs(storage, doc_refs[:1], tokenizer_ref,
                        SETTINGS.model_copy(update={"batch_size": 3, "threads": 1}))[0]
    assert TOKENIZE.key(job) == token_refs[0].key
    Store(storage).rm(token_refs[0].dir, recursive=True)
    ref = TOKENIZE.run(job)  # recomputed in batches of 3: the same files, byte for byte
    assert not ref.reused and ref.digest == token_refs[0].digest


def test_sources_in_any_order_or_handed_in_apart_give_the_same_key(storage, doc_refs, tokenizer_ref, token_refs):
    given = tokenize_jobs(storage, doc_refs[:1], tokenizer_ref, SETTINGS)[0]
    swapped = TokenizeJob(storage=storage, shard=given.shard, sources=[tokenizer_ref, doc_refs[0]], settings=SETTINGS)
    apart = tokenize_job(storage, given.shard, SETTINGS).model_copy(update={"sources": [doc_refs[0], tokenizer_ref]})
    assert TOKENIZE.key(given) == TOKENIZE.key(swapped) == TOKENIZE.key(apart) == token_refs[0].key
    assert TOKENIZE.run(apart).reused


def test_files_are_bounded_and_each_keeps_whole_row_groups(tmp_path, docs, tokenizer_ref, storage):
    docs_ref = documents_output(storage, docs, shard="bounded")
    settings = TokenizeSettings(validation_fraction=FRACTION, max_rows_per_file=30)
    ref = TOKENIZE.run(tokenize_jobs(storage, [docs_ref], tokenizer_ref, settings)[0])
    store = Store(storage)
    train = sorted(n for n in ref.files if n.startswith("train-"))
    assert len(train) == -(-ref.counts["documents_train"] // 30) > 1
    assert [pq.ParquetFile(store.path(ref.path(n))).metadata.num_rows for n in train[:-1]] == [30] * (len(train) - 1)
    assert TOKENIZE.key(tokenize_jobs(storage, [docs_ref], tokenizer_ref, settings)[0]) != TOKENIZE.key(
        tokenize_jobs(storage, [docs_ref], tokenizer_ref, TokenizeSettings(validation_fraction=FRACTION))[0])


def test_vocab_size_changes_the_tokenizer_key_and_every_tokenize_key(storage, doc_refs, tokenizer_ref, token_refs):
    smaller = TOKENIZER.run(tokenizer_job(storage, doc_refs, TokenizerSettings(vocab_size=512)))
    assert smaller.key != tokenizer_ref.key and smaller.counts["vocab_size"] == 512
    keys = [TOKENIZE.key(job) for job in tokenize_jobs(storage, doc_refs, smaller, SETTINGS)]
    assert not set(keys) & {ref.key for ref in token_refs}
    assert len(set(keys)) == len(doc_refs)


def test_empty_and_missing_text_on_object_storage(tokenizer_ref, storage):
    # The tokenizer output is copied to a memory:// root so that everything is read through fsspec.
    memory = StorageConfig(root="memory://tokenize-empty")
    tok = TOKENIZER.run(tokenizer_job(memory, [], TokenizerSettings(
        path=Store(storage).path(tokenizer_ref.path(TOKENIZER_FILE)))))
    rows = [{"id": "blank", "text": ""}, {"id": "null", "text": None}, {"id": "word", "text": "word"}]
    docs_ref = documents_output(memory, [{**r, "url": None, "crawl": None, "warc_path": None, "date": None,
                                          "language": None, "language_score": None} for r in rows])
    ref = TOKENIZE.run(tokenize_jobs(memory, [docs_ref], tok, TokenizeSettings(validation_fraction=0.0))[0])
    store = Store(memory)
    word = len(Tokenizer.from_str(store.read_bytes(tok.path(TOKENIZER_FILE)).decode()).encode("word").ids)
    assert ref.counts == {"documents": 3, "bytes": 4, "documents_train": 3, "documents_validation": 0,
                          "tokens_train": 1 + 1 + word + 1, "tokens_validation": 0}
    with store.open(ref.path("train-00000.parquet")) as f:
        got = {r["doc_id"]: r["input_ids"] for r in pq.read_table(f).to_pylist()}
    assert got["blank"] == got["null"] == [0]
    with store.open(ref.path("validation-00000.parquet")) as f:
        assert pq.read_table(f).num_rows == 0  # an empty split still has a file with the schema


def test_bad_inputs_are_permanent_errors(storage, tokenizer_ref, doc_refs, tmp_path):
    with pytest.raises(ValueError, match=r"reads one shard and one tokenizer output, not \[.tokenizer.\]"):
        TokenizeJob(storage=storage, shard="x", sources=[tokenizer_ref])
    with pytest.raises(PermanentError, match="reads one shard and one tokenizer output"):
        TOKENIZE.run(tokenize_job(storage, "x", SETTINGS))
    broken_docs = doc_refs[0].model_copy(update={"key": "nothing-here", "digest": "d"})
    job = tokenize_jobs(storage, [broken_docs], tokenizer_ref, SETTINGS)[0]
    with pytest.raises(PermanentError, match=r"documents/nothing-here/documents-00000.parquet is missing"):
        TOKENIZE.run(job)

    store = Store(storage)
    store.write_atomic("documents/bad/documents-00000.parquet", b"this is not parquet")
    bad = doc_refs[0].model_copy(update={"key": "bad", "digest": "bad", "files": ["documents-00000.parquet"]})
    job = tokenize_jobs(storage, [bad], tokenizer_ref, SETTINGS)[0]
    with pytest.raises(PermanentError, match=r"documents/bad/documents-00000.parquet is not readable Parquet"):
        TOKENIZE.run(job)
    assert TOKENIZE.output(job).state() == OutputState.FAILED

    store.write_atomic("tokenizer/bad/tokenizer.json", b"{broken")
    bad_tok = tokenizer_ref.model_copy(update={"key": "bad", "digest": "bad-tok"})
    with pytest.raises(PermanentError, match=r"tokenizer/bad/tokenizer.json is not a valid tokenizer.json"):
        TOKENIZE.run(tokenize_jobs(storage, doc_refs[:1], bad_tok, SETTINGS)[0])


def test_describe_tokens_shows_counts_ratio_and_decoded_samples(storage, token_refs, tokenizer_ref, docs):
    refs, tok = latest_token_outputs(Store(storage))
    assert tok.key == tokenizer_ref.key and {r.key for r in refs} >= {r.key for r in token_refs}
    text = describe_tokens(Store(storage), token_refs, tokenizer_ref, n_samples=2)
    totals = token_totals(token_refs)
    assert f"{totals['tokens_train']:,}" in text and f"{totals['documents_validation']:,}" in text
    assert f"{totals['bytes'] / (totals['tokens_train'] + totals['tokens_validation']):.2f} bytes per token" in text
    assert "ids uint16" in text and text.count(" tokens):") == 2
    first = pq.read_table(Store(storage).path(token_refs[0].path("train-00000.parquet"))).to_pylist()[0]
    doc = next(d for d in docs if d["id"] == first["doc_id"])
    assert doc["text"][:40].replace("\n", "⏎ ") in text


def test_threads_size_the_encoding_pool_once_per_process(monkeypatch, caplog):
    monkeypatch.setitem(tokenizer_module._pool, "threads", None)
    for name in ("RAYON_NUM_THREADS", "TOKENIZERS_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    logger = logging.getLogger("fineflow.tokenize")
    assert size_thread_pool(3, logger) == 3
    assert os.environ["RAYON_NUM_THREADS"] == os.environ["TOKENIZERS_NUM_THREADS"] == "3"
    with caplog.at_level(logging.WARNING, logger="fineflow.tokenize"):
        assert size_thread_pool(5, logger) == 3
    assert "threads=5 ignored: this process already encodes with 3 threads" in caplog.text
    monkeypatch.setitem(tokenizer_module._pool, "threads", None)
    monkeypatch.delenv("RAYON_NUM_THREADS")
    monkeypatch.delenv("TOKENIZERS_NUM_THREADS")
    assert size_thread_pool(None, logger) == len(os.sched_getaffinity(0))
    monkeypatch.setitem(tokenizer_module._pool, "threads", None)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    assert size_thread_pool(None, logger) == 1  # tokenizers encodes serially then


def test_tokenizers_reads_the_thread_count_at_its_first_parallel_call():
    """What size_thread_pool relies on, checked against the installed tokenizers."""
    code = (
        "import os, sys\n"
        "os.environ['RAYON_NUM_THREADS'] = os.environ['TOKENIZERS_NUM_THREADS'] = sys.argv[1]\n"
        "from tokenizers import Tokenizer, models, pre_tokenizers\n"
        "tokenizer = Tokenizer(models.BPE())\n"
        "tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "tokenizer.encode_batch(['a b c'] * 64)\n"
        "os.environ['RAYON_NUM_THREADS'] = '7'\n"
        "tokenizer.encode_batch(['a b c'] * 64)\n"
        "print(len(os.listdir('/proc/self/task')) - before)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    counts = [int(subprocess.run([sys.executable, "-c", code, str(n)], capture_output=True, text=True, check=True,
                                 env=env).stdout) for n in (1, 3)]
    assert counts[0] <= 1 and counts[1] == 3  # releases that encode serially on one thread start no pool


@flow(name="tokens-test")
def tokens_flow(storage: StorageConfig, documents: list[OutputRef]) -> list[OutputRef]:
    job = tokenizer_job(storage, documents, TokenizerSettings(vocab_size=VOCAB))
    tokenizer = for_storage(tokenizer_task, storage)(job)
    runner = for_storage(tokenize_task, storage)
    futures = [runner.submit(job) for job in tokenize_jobs(storage, documents, tokenizer, SETTINGS)]
    return [future.result() for future in futures]


@pytest.mark.usefixtures("prefect_api")
def test_prefect_tasks_run_once_then_are_cached(tmp_path, docs):
    storage = StorageConfig(root=str(tmp_path / "store"))
    documents = sharded(storage, docs, outputs=2, rows_per_file=100)
    first = tokens_flow(storage, documents, return_state=True)
    assert first.is_completed()
    states = task_states(first.state_details.flow_run_id)
    assert sorted(states.values()) == ["Completed"] * 3 and "tokenizer tokenizer" in states
    again = tokens_flow(storage, documents, return_state=True)
    assert again.is_completed()
    assert sorted(task_states(again.state_details.flow_run_id).values()) == ["Cached"] * 3
    assert [r.digest for r in again.result()] == [r.digest for r in first.result()]
    assert json.loads(json.dumps([r.model_dump() for r in again.result()]))  # results are plain references
