"""The tokenizer stage: one byte-level BPE tokenizer per run, trained on a sample of the documents.

The sample is chosen by a hash of each document's id, not by file order: the documents
with the smallest hashes, until `sample_bytes` of text. The same documents give the same
sample however they are sharded, and the sample is spread over every shard and language.
A user may supply a tokenizer.json instead; it is validated and copied byte for byte.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from storage import OutputWriter, StorageConfig, Store
from storage.parquet import document_files, iter_batches
from tasks.stage import OutputRef, PermanentError, Stage, StageContext, StageJob, StageResult, stage_task

TOKENIZER_FILE = "tokenizer.json"
ENDOFTEXT = "<|endoftext|>"
# Reserved now so that chat fine-tuning later needs no new embeddings.
CHAT_TOKENS = ("<|user|>", "<|assistant|>", "<|system|>", "<|end|>")
SPECIAL_TOKENS = (ENDOFTEXT, *CHAT_TOKENS)
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # every byte, then the special tokens

# The GPT-4o (o200k) split: words keep their combining marks (\p{M}), so Devanagari or
# decomposed accents are not cut mid-letter as GPT-2's pattern cuts them; a case change
# starts a word (camelCase); numbers split into groups of at most three digits;
# punctuation runs keep the line breaks that follow them. Scripts written without spaces
# (Chinese, Japanese) split at punctuation only, as in GPT-4o.
SPLIT_PATTERN = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])

# Salts keep the sample and the train/validation split independent of each other.
SAMPLE_SALT = b"ff-tok-sample"
SPLIT_SALT = b"ff-tok-split"


class TokenizerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(16384, ge=MIN_VOCAB_SIZE, le=2**32,
                            description="Tokens in the vocabulary, the 256 bytes and the special tokens included")
    min_frequency: int = Field(2, ge=1, description="A pair merges only if it occurs at least this often in the sample")
    sample_bytes: int = Field(64 * 2**20, ge=1, description="UTF-8 bytes of document text to train on")
    path: str | None = Field(None, description="An existing tokenizer.json (local path or fsspec URL) to use "
                                               "instead of training one; it must have <|endoftext|>")


class TokenizerJob(StageJob):
    """The run's tokenizer. `sources`: every documents output of the run. Build it with
    `tokenizer_job`, which fingerprints a supplied file.

    A trained tokenizer's key follows the training settings and the documents; a supplied
    one's follows the file's content alone (not where it lives, not the documents).
    """

    settings: TokenizerSettings = Field(default_factory=TokenizerSettings)
    supplied_sha256: str | None = Field(None, description="SHA-256 of the supplied tokenizer.json")

    @model_validator(mode="after")
    def _supplied_is_fingerprinted(self) -> TokenizerJob:
        if self.settings.path is not None and self.supplied_sha256 is None:
            raise ValueError("a supplied tokenizer needs its supplied_sha256; build the job with tokenizer_job()")
        return self

    @property
    def inputs(self) -> list[str]:
        # A set of documents outputs, whatever order they finished or were handed in; a
        # supplied tokenizer reads none of them.
        return [] if self.settings.path is not None else sorted(ref.digest for ref in self.sources)

    def output_config(self) -> dict[str, Any]:
        if self.settings.path is not None:
            return {"supplied_sha256": self.supplied_sha256}
        return self.settings.model_dump(mode="json", exclude={"path"})


def tokenizer_job(storage: StorageConfig, documents: Sequence[OutputRef], settings: TokenizerSettings) -> TokenizerJob:
    """The tokenizer job of a run: every documents output, sorted by digest so that the key
    does not depend on the order they finished in. A supplied file is read here once, so
    that editing it in place gives a new key instead of a stale cached tokenizer."""
    if settings.path is not None:
        data = read_supplied(settings.path, storage)
        return TokenizerJob(storage=storage, shard="tokenizer", settings=settings,
                            supplied_sha256=hashlib.sha256(data).hexdigest())
    return TokenizerJob(storage=storage, shard="tokenizer", settings=settings,
                        sources=sorted(documents, key=lambda ref: ref.digest))


# Threads

_pool = {"threads": None}
_pool_lock = threading.Lock()


def size_thread_pool(threads: int | None, logger: logging.Logger | logging.LoggerAdapter) -> int:
    """Size the Rust thread pool that `tokenizers` encodes and trains with; returns its size.

    The pool is created once per process, at the first parallel call, from
    RAYON_NUM_THREADS (newer releases also read TOKENIZERS_NUM_THREADS), and never resized.
    So the first stage to run in a process decides; a later, different request is logged
    and ignored. Unset, the pool has one thread per core the process may use (cgroup and
    affinity aware). Where tasks share a process (Prefect's thread pool runner) they share
    the pool, which keeps them from oversubscribing the cores; where workers are processes
    (Dask), give each worker threads = cores / workers.
    """
    with _pool_lock:
        if _pool["threads"] is None:
            if threads is not None:
                os.environ["RAYON_NUM_THREADS"] = os.environ["TOKENIZERS_NUM_THREADS"] = str(threads)
            _pool["threads"] = _configured_threads()
        elif threads is not None and threads != _pool["threads"]:
            logger.warning("threads=%d ignored: this process already encodes with %d threads "
                           "(the pool is sized once per process)", threads, _pool["threads"])
        return _pool["threads"]


def _configured_threads() -> int:
    # The same falsy values tokenizers itself reads as "encode serially".
    if os.environ.get("TOKENIZERS_PARALLELISM", "true").strip().lower() in ("", "false", "f", "off", "no", "n", "0"):
        return 1
    for name in ("RAYON_NUM_THREADS", "TOKENIZERS_NUM_THREADS"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Reading documents


def id_hash(doc_id: str, salt: bytes) -> int:
    """A 64-bit hash of a document id, the same on every machine and in every process."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8, person=salt).digest(), "big")


def documents_rows(store: Store, ref: OutputRef, name: str) -> int:
    """Rows of one documents file, after checking from its footer alone that it is Parquet
    with string `id` and `text` columns; a PermanentError names the file otherwise."""
    rel = ref.path(name)
    try:
        with store.open(rel, "rb") as f:
            parquet = pq.ParquetFile(f)
            schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
    except FileNotFoundError:
        raise PermanentError(f"documents file {store.uri(rel)} is missing; was its output removed?") from None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise PermanentError(f"documents file {store.uri(rel)} is not readable Parquet: {exc}") from None
    for column in ("id", "text"):
        if column not in schema.names:
            raise PermanentError(f"documents file {store.uri(rel)} has no {column!r} column (columns: {schema.names})")
        if not (pa.types.is_string(schema.field(column).type) or pa.types.is_large_string(schema.field(column).type)):
            raise PermanentError(f"documents file {store.uri(rel)}: column {column!r} is "
                                 f"{schema.field(column).type}, expected string")
    return rows


def document_batches(store: Store, ref: OutputRef, name: str, columns: Sequence[str],
                     batch_size: int) -> Iterator[pa.RecordBatch]:
    """A checked documents file's batches; a file damaged past its footer is a PermanentError."""
    try:
        yield from iter_batches(store, ref.path(name), columns=columns, batch_size=batch_size)
    except pa.ArrowInvalid as exc:
        raise PermanentError(f"documents file {store.uri(ref.path(name))} is damaged: {exc}") from None


# The sample


@dataclass
class Sample:
    """The sampled rows, per documents file, in file order."""

    rows: dict[tuple[int, str], np.ndarray] = field(default_factory=dict)  # (source index, file) -> sorted rows
    documents: int = 0
    bytes: int = 0
    seen_documents: int = 0
    seen_bytes: int = 0


def choose_sample(store: Store, refs: Sequence[OutputRef], sample_bytes: int, ctx: StageContext,
                  batch_size: int = 4096) -> Sample:
    """The documents with the smallest id hashes whose texts reach `sample_bytes` together.

    One pass that reads ids and text lengths; the heap holds only the sample's documents
    (hash, bytes, position), never their texts.
    """
    files = [(i, name) for i, ref in enumerate(refs) for name in document_files(ref.files)]
    total = sum(documents_rows(store, refs[i], name) for i, name in files)
    heap: list[tuple[int, int, int, int]] = []  # (-hash, bytes, file index, row): the largest hash on top
    kept = seen = seen_bytes = 0
    for f, (i, name) in enumerate(files):
        row = 0
        for batch in document_batches(store, refs[i], name, ["id", "text"], batch_size):
            lengths = pc.fill_null(pc.binary_length(batch.column("text")), 0).to_numpy(zero_copy_only=False)
            for doc_id, n in zip(batch.column("id").to_pylist(), lengths.tolist()):
                if n:
                    kept = _offer(heap, kept, sample_bytes, (-id_hash(doc_id, SAMPLE_SALT), n, f, row))
                    seen_bytes += n
                row += 1
            seen += batch.num_rows
            ctx.progress(seen, total, unit="doc")
    sample = Sample(documents=len(heap), bytes=kept, seen_documents=seen, seen_bytes=seen_bytes)
    by_file: dict[int, list[int]] = {}
    for _, _, f, row in heap:
        by_file.setdefault(f, []).append(row)
    for f in sorted(by_file):  # file order: each file is read once, front to back
        sample.rows[files[f]] = np.sort(np.array(by_file[f], dtype=np.int64))
    return sample


def _offer(heap: list[tuple[int, int, int, int]], kept: int, target: int, item: tuple[int, int, int, int]) -> int:
    """Keep the smallest-hash documents that reach `target` bytes: add `item`, then drop
    the largest hashes while the rest still reach the target. Returns the bytes kept."""
    if kept >= target and item[0] < heap[0][0]:
        return kept  # hashes above the sample's largest can never enter it
    heapq.heappush(heap, item)
    kept += item[1]
    while kept - heap[0][1] >= target:
        kept -= heapq.heappop(heap)[1]
    return kept


def sample_texts(store: Store, refs: Sequence[OutputRef], sample: Sample, ctx: StageContext,
                 batch_size: int = 4096) -> Iterator[list[str]]:
    """The sampled texts, a batch at a time, read again from storage: the sample is never
    held in memory whole."""
    done = 0
    for (i, name), rows in sample.rows.items():
        start = 0
        for batch in document_batches(store, refs[i], name, ["text"], batch_size):
            lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
            if hi > lo:
                texts = batch.column("text").take(pa.array(rows[lo:hi] - start)).to_pylist()
                done += len(texts)
                ctx.progress(done, sample.documents, unit="doc")
                yield texts
            start += batch.num_rows


# Training, loading, validating


def new_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE: no normalizer, so decode(encode(text)) == text exactly."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train_tokenizer(texts: Iterator[list[str]], settings: TokenizerSettings) -> Tokenizer:
    tokenizer = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=settings.vocab_size,
        min_frequency=settings.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no text is ever unknown
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def parse_tokenizer(data: bytes, name: str) -> Tokenizer:
    """A tokenizer.json's bytes as a Tokenizer, or a PermanentError that names `name` and the problem."""
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PermanentError(f"{name} is not a tokenizer.json: it is not UTF-8 text") from None
    except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for bad JSON
        raise PermanentError(f"{name} is not a valid tokenizer.json: {exc}") from None
    if tokenizer.token_to_id(ENDOFTEXT) is None:
        raise PermanentError(f"{name} has no {ENDOFTEXT} token, which ends every document in the token shards")
    try:
        tokenizer.encode("fineflow: Grüße, 東京 123!")
    except Exception as exc:  # noqa: BLE001 - a tokenizer that loads but cannot encode is as broken
        raise PermanentError(f"{name} loads but cannot encode text: {exc}") from None
    return tokenizer


def load_tokenizer(store: Store, ref: OutputRef) -> Tokenizer:
    """The tokenizer of a committed tokenizer output."""
    rel = ref.path(TOKENIZER_FILE)
    try:
        data = store.read_bytes(rel)
    except FileNotFoundError:
        raise PermanentError(f"{store.uri(rel)} is missing from the tokenizer output") from None
    return parse_tokenizer(data, store.uri(rel))


def read_supplied(path: str, storage: StorageConfig) -> bytes:
    """A supplied tokenizer.json, from a local path or any fsspec URL; the storage root's
    options (endpoint, credentials) apply when the file is on the same kind of store."""
    protocol = fsspec.core.split_protocol(path)[0] or "file"
    options = storage.fsspec_options() if protocol == storage.protocol else {}
    if protocol == "file":
        path = os.path.expanduser(path)
    try:
        with fsspec.open(path, "rb", **options) as f:
            return f.read()
    except FileNotFoundError:
        raise PermanentError(f"supplied tokenizer {path} does not exist") from None
    except IsADirectoryError:
        raise PermanentError(f"supplied tokenizer {path} is a folder, not a tokenizer.json file") from None


def describe_vocabulary(tokenizer: Tokenizer) -> tuple[dict[str, int], dict[str, Any]]:
    """Manifest counts and extra: the vocabulary size and the special tokens' ids."""
    counts = {"vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
              "endoftext_id": tokenizer.token_to_id(ENDOFTEXT)}
    special = {t: tokenizer.token_to_id(t) for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is not None}
    return counts, {"special_tokens": special}


# The stage


def build_tokenizer(job: TokenizerJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    """Train the run's tokenizer on its sample, or validate and copy the supplied one."""
    if job.settings.path is not None:
        data, tokenizer, counts, extra = _supplied(job, ctx)
    else:
        tokenizer, counts, extra = _trained(job, ctx)
        data = tokenizer.to_str().encode("utf-8")
    with out.open(TOKENIZER_FILE) as f:
        f.write(data)
    vocab_counts, vocab_extra = describe_vocabulary(tokenizer)
    return StageResult(counts={**counts, **vocab_counts}, extra={**extra, **vocab_extra})


def _supplied(job: TokenizerJob, ctx: StageContext) -> tuple[bytes, Tokenizer, dict[str, int], dict[str, Any]]:
    path = job.settings.path
    data = read_supplied(path, job.storage)
    if hashlib.sha256(data).hexdigest() != job.supplied_sha256:
        raise PermanentError(f"supplied tokenizer {path} changed after the run was planned; run again")
    tokenizer = parse_tokenizer(data, path)
    missing = [t for t in CHAT_TOKENS if tokenizer.token_to_id(t) is None]
    if missing:
        ctx.logger.warning("supplied tokenizer %s lacks the chat tokens %s; chat fine-tuning will need them",
                           path, ", ".join(missing))
    ctx.logger.info("tokenizer: using the supplied %s (%d tokens)", path, tokenizer.get_vocab_size())
    return data, tokenizer, {}, {"supplied": path}


def _trained(job: TokenizerJob, ctx: StageContext) -> tuple[Tokenizer, dict[str, int], dict[str, Any]]:
    store = Store(job.storage)
    settings = job.settings
    size_thread_pool(None, ctx.logger)
    sample = choose_sample(store, job.sources, settings.sample_bytes, ctx)
    if not sample.documents:
        raise PermanentError(f"no document text to train a tokenizer on in {len(job.sources)} documents output(s)")
    ctx.logger.info("tokenizer: training on %d of %d documents (%.1f of %.1f MB)", sample.documents,
                    sample.seen_documents, sample.bytes / 1e6, sample.seen_bytes / 1e6)
    tokenizer = train_tokenizer(sample_texts(store, job.sources, sample, ctx), settings)
    if tokenizer.get_vocab_size() < settings.vocab_size:
        ctx.logger.warning("tokenizer: the sample allowed only %d of %d tokens (min_frequency %d)",
                           tokenizer.get_vocab_size(), settings.vocab_size, settings.min_frequency)
    counts = {"documents": sample.seen_documents, "bytes": sample.seen_bytes,
              "sample_documents": sample.documents, "sample_bytes": sample.bytes}
    return tokenizer, counts, {}


TOKENIZER = Stage(name="tokenizer", version="1", work=build_tokenizer)
tokenizer_task = stage_task(TOKENIZER)
