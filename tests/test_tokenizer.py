"""The tokenizer stage: training on a hash-chosen sample, round trips in every language,
keys, and supplied tokenizer.json files (used as is, or rejected clearly)."""

from __future__ import annotations

import hashlib
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer, models

from storage import OutputState, StorageConfig, Store
from storage.parquet import document_files, iter_batches
from tasks.stage import PermanentError, Stage, StageContext, StageJob, StageResult
from tasks.tokenizer import (
    CHAT_TOKENS, ENDOFTEXT, SAMPLE_SALT, SPECIAL_TOKENS, TOKENIZER, TOKENIZER_FILE, TokenizerJob, TokenizerSettings,
    choose_sample, id_hash, new_tokenizer, tokenizer_job,
)
from tests.documents_fixture import LANGUAGES, TRICKY, documents_output, sample_documents, sharded

VOCAB = 1024


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> StorageConfig:
    return StorageConfig(root=str(tmp_path_factory.mktemp("tokenizer-store")))


@pytest.fixture(scope="module")
def docs():
    return sample_documents()


@pytest.fixture(scope="module")
def docs_ref(storage, docs):
    return documents_output(storage, docs, rows_per_file=100)


@pytest.fixture(scope="module")
def trained(storage, docs_ref):
    ref = TOKENIZER.run(tokenizer_job(storage, [docs_ref], TokenizerSettings(vocab_size=VOCAB)))
    return ref, Store(storage).path(ref.path(TOKENIZER_FILE))


def test_trained_tokenizer_loads_in_tokenizers_and_transformers(storage, trained, docs):
    from transformers import PreTrainedTokenizerFast

    ref, path = trained
    tokenizer = Tokenizer.from_file(path)
    assert tokenizer.get_vocab_size() == VOCAB
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert ref.counts == {"documents": len(docs), "bytes": sum(len(d["text"].encode()) for d in docs),
                          "sample_documents": len(docs), "sample_bytes": ref.counts["bytes"],
                          "vocab_size": VOCAB, "endoftext_id": 0}
    manifest = Store(storage).output("tokenizer", ref.key).committed()
    assert manifest.extra["special_tokens"] == {t: i for i, t in enumerate(SPECIAL_TOKENS)}

    fast = PreTrainedTokenizerFast(tokenizer_file=path)
    assert len(fast) == VOCAB and fast.convert_tokens_to_ids(ENDOFTEXT) == 0
    for doc in docs[::25]:
        ids = fast(doc["text"])["input_ids"]
        assert ids == tokenizer.encode(doc["text"]).ids
        assert fast.decode(ids) == doc["text"]


def test_every_document_in_every_language_round_trips(trained, docs):
    tokenizer = Tokenizer.from_file(trained[1])
    assert LANGUAGES <= {d["language"] for d in docs}
    texts = [d["text"] for d in docs] + TRICKY
    encodings = tokenizer.encode_batch(texts)
    failed = [t[:60] for t, e in zip(texts, encodings) if tokenizer.decode(e.ids, skip_special_tokens=False) != t]
    assert not failed
    assert all(len(e.ids) < len(t.encode()) for t, e in zip(texts, encodings) if len(t) > 200)  # it does compress


def test_pre_tokenization_splits_words_numbers_and_punctuation_in_every_script():
    tokenizer = new_tokenizer()

    def pieces(text: str) -> list[str]:
        return [tokenizer.decoder.decode([piece]) for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)]

    assert pieces("Hello, world! It's 12345.") == ["Hello", ",", " world", "!", " It's", " ", "123", "45", "."]
    assert pieces("Привет, мир!") == ["Привет", ",", " мир", "!"]
    assert pieces("नमस्ते दुनिया") == ["नमस्ते", " दुनिया"]  # combining marks stay inside the word
    assert pieces("camelCaseWord") == ["camel", "Case", "Word"]
    # Without spaces, a word starts at the punctuation before it, as a space would (GPT-4o does the same).
    assert pieces("東京都。大阪に行く") == ["東京都", "。大阪に行く"]


def test_sample_is_chosen_by_id_hash_whatever_the_sharding(tmp_path, docs):
    """The documents with the smallest id hashes until sample_bytes: the same documents and
    the same tokenizer, byte for byte, from one output or from three shuffled ones."""
    target = 80_000
    ordered = sorted(docs, key=lambda d: id_hash(d["id"], SAMPLE_SALT))
    expected, total = set(), 0
    for doc in ordered:
        if total >= target:
            break
        if doc["text"]:
            expected.add(doc["id"])
            total += len(doc["text"].encode())

    settings = TokenizerSettings(vocab_size=VOCAB, sample_bytes=target)
    results = []
    for name, refs in [("one", [documents_output(str(tmp_path / "one"), docs)]),
                       ("three", sharded(str(tmp_path / "three"), docs, outputs=3, rows_per_file=17, seed=5))]:
        store = Store(str(tmp_path / name))
        sample = choose_sample(store, refs, target, StageContext("tokenizer", "test"))
        chosen = set()
        for (i, file), rows in sample.rows.items():
            ids = [r["id"] for b in iter_batches(store, refs[i].path(file), ["id"]) for r in b.to_pylist()]
            chosen |= {ids[row] for row in rows}
        assert chosen == expected and sample.bytes == total
        ref = TOKENIZER.run(tokenizer_job(StorageConfig(root=str(tmp_path / name)), refs, settings))
        assert ref.counts["sample_documents"] == len(expected)
        results.append(store.read_bytes(ref.path(TOKENIZER_FILE)))
    assert results[0] == results[1]
    assert len(expected) < len(docs) // 2  # a real sample, spread over the files rather than their start


def test_key_follows_training_settings_and_documents_not_their_order(storage, docs_ref, tmp_path):
    other = documents_output(str(tmp_path), sample_documents()[:10])
    base = tokenizer_job(storage, [docs_ref, other], TokenizerSettings(vocab_size=VOCAB))
    swapped = tokenizer_job(storage, [other, docs_ref], TokenizerSettings(vocab_size=VOCAB))
    assert TOKENIZER.key(base) == TOKENIZER.key(swapped)
    for changed in [{"vocab_size": 2048}, {"min_frequency": 3}, {"sample_bytes": 1000}]:
        job = tokenizer_job(storage, [docs_ref, other], TokenizerSettings(vocab_size=VOCAB).model_copy(update=changed))
        assert TOKENIZER.key(job) != TOKENIZER.key(base), changed
    assert TOKENIZER.key(tokenizer_job(storage, [docs_ref], TokenizerSettings(vocab_size=VOCAB))) != TOKENIZER.key(base)
    # A flow may hand the documents in apart from the job, in the order they finished.
    apart = TokenizerJob(storage=storage, shard="tokenizer", settings=TokenizerSettings(vocab_size=VOCAB))
    assert TOKENIZER.key(apart.model_copy(update={"sources": [other, docs_ref]})) == TOKENIZER.key(base)


def test_supplied_tokenizer_is_used_as_is(storage, docs_ref, trained, tmp_path):
    tokenizer = Tokenizer.from_file(trained[1])
    supplied = tmp_path / "mine" / "tokenizer.json"
    supplied.parent.mkdir()
    tokenizer.save(str(supplied), pretty=True)  # other bytes than the stage itself would write
    data = supplied.read_bytes()
    settings = TokenizerSettings(path=str(supplied), vocab_size=50_000)
    ref = TOKENIZER.run(tokenizer_job(storage, [docs_ref], settings))
    assert Store(storage).read_bytes(ref.path(TOKENIZER_FILE)) == data
    assert ref.counts == {"vocab_size": VOCAB, "endoftext_id": 0}

    # The key is the file's content: not its place, not the documents, not training settings.
    elsewhere = tmp_path / "copy.json"
    elsewhere.write_bytes(data)
    moved = tokenizer_job(storage, [], TokenizerSettings(path=elsewhere.as_uri()))
    assert TOKENIZER.key(moved) == ref.key and TOKENIZER.run(moved).reused
    supplied.write_bytes(data.replace(b'"<|user|>"', b'"<|usr|>"'))
    assert TOKENIZER.key(tokenizer_job(storage, [docs_ref], settings)) != ref.key


def test_supplied_tokenizer_on_object_storage(trained):
    store = Store("memory://supplied-tok")
    store.write_atomic("in/tokenizer.json", open(trained[1], "rb").read())
    storage = StorageConfig(root="memory://supplied-tok")
    ref = TOKENIZER.run(tokenizer_job(storage, [], TokenizerSettings(path="memory://supplied-tok/in/tokenizer.json")))
    assert store.read_bytes(ref.path(TOKENIZER_FILE)) == store.read_bytes("in/tokenizer.json")


def test_supplied_tokenizer_without_chat_tokens_is_accepted_with_a_warning(storage, trained, tmp_path, caplog):
    tokenizer = Tokenizer(models.BPE(vocab={"a": 0, ENDOFTEXT: 1}, merges=[]))
    path = tmp_path / "plain.json"
    tokenizer.save(str(path))
    with caplog.at_level(logging.WARNING, logger="fineflow.tokenizer"):
        ref = TOKENIZER.run(tokenizer_job(storage, [], TokenizerSettings(path=str(path))))
    assert ref.counts == {"vocab_size": 2, "endoftext_id": 1}
    assert all(t in caplog.text for t in CHAT_TOKENS)


def _no_endoftext() -> bytes:
    tokenizer = new_tokenizer()
    tokenizer.model = models.BPE(vocab={"a": 0, "b": 1}, merges=[])
    return tokenizer.to_str().encode()


@pytest.mark.parametrize("content, problem", [
    (b"not json at all", "is not a valid tokenizer.json: "),
    (b'{"version": "1.0"}', "is not a valid tokenizer.json: "),
    (b"\xff\xfe\x00garbage", "is not a tokenizer.json: it is not UTF-8 text"),
    (_no_endoftext, f"has no {ENDOFTEXT} token"),
])
def test_broken_supplied_tokenizer_is_rejected_clearly(storage, tmp_path, content, problem):
    path = tmp_path / "broken-tokenizer.json"
    path.write_bytes(content() if callable(content) else content)
    job = tokenizer_job(storage, [], TokenizerSettings(path=str(path)))
    with pytest.raises(PermanentError) as info:
        TOKENIZER.run(job)
    assert str(path) in str(info.value) and problem in str(info.value)
    output = TOKENIZER.output(job)
    assert output.state() == OutputState.FAILED and problem in output.read_failure().error


def test_missing_or_changed_supplied_file_is_rejected(storage, trained, tmp_path):
    with pytest.raises(PermanentError, match=r"supplied tokenizer .*nowhere.json does not exist"):
        tokenizer_job(storage, [], TokenizerSettings(path=str(tmp_path / "nowhere.json")))
    with pytest.raises(PermanentError, match="is a folder"):
        tokenizer_job(storage, [], TokenizerSettings(path=str(tmp_path)))
    path = tmp_path / "t.json"
    path.write_bytes(open(trained[1], "rb").read())
    job = tokenizer_job(storage, [], TokenizerSettings(path=str(path)))
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(PermanentError, match="changed after the run was planned"):
        TOKENIZER.run(job)
    with pytest.raises(ValueError, match="build the job with tokenizer_job"):
        TokenizerJob(storage=storage, shard="tokenizer", settings=TokenizerSettings(path=str(path)))


class _RawJob(StageJob):
    name: str
    content: str


def _raw(job: _RawJob, out, ctx) -> StageResult:
    with out.open(job.name) as f:
        f.write(job.content.encode("latin-1"))
    return StageResult()


RAW = Stage(name="raw", version="1", work=_raw)


def test_documents_that_are_not_parquet_or_lack_text_are_permanent_errors(storage, tmp_path):
    not_parquet = RAW.run(_RawJob(storage=storage, shard="x", name="documents-00000.parquet", content="PAR1 nope"))
    with pytest.raises(PermanentError, match=r"documents file .*/raw/.*/documents-00000.parquet is not readable "
                                             r"Parquet: Parquet magic bytes"):
        TOKENIZER.run(tokenizer_job(storage, [not_parquet], TokenizerSettings(vocab_size=VOCAB)))

    no_text_dir = tmp_path / "no-text"
    no_text_dir.mkdir()
    pq.write_table(pa.table({"id": ["a"], "body": ["hello"]}), no_text_dir / "documents-00000.parquet")
    content = (no_text_dir / "documents-00000.parquet").read_bytes().decode("latin-1")
    no_text = RAW.run(_RawJob(storage=storage, shard="y", name="documents-00000.parquet", content=content))
    assert document_files(no_text.files) == ["documents-00000.parquet"]
    with pytest.raises(PermanentError, match=r"documents-00000.parquet has no 'text' column "
                                             r"\(columns: \['id', 'body'\]\)"):
        TOKENIZER.run(tokenizer_job(storage, [no_text], TokenizerSettings(vocab_size=VOCAB)))


def test_no_text_at_all_is_a_permanent_error(storage):
    empty = documents_output(storage, [], shard="empty")
    with pytest.raises(PermanentError, match="no document text to train a tokenizer on"):
        TOKENIZER.run(tokenizer_job(storage, [empty], TokenizerSettings(vocab_size=VOCAB)))


def test_file_sha_is_what_keys_a_supplied_tokenizer(storage, tmp_path, trained):
    path = tmp_path / "k.json"
    path.write_bytes(open(trained[1], "rb").read())
    job = tokenizer_job(storage, [], TokenizerSettings(path=str(path)))
    assert job.supplied_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert job.output_config() == {"supplied_sha256": job.supplied_sha256}
    assert job.model_copy(update={"sources": [trained[0]]}).inputs == []  # documents do not make it
