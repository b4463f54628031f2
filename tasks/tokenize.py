"""The tokenize stage: one documents output into Parquet token shards, train and validation.

Each document becomes one row: `doc_id`, `input_ids` (its tokens, then <|endoftext|>) and
`n_tokens`. Whether a document is in the validation split depends on a hash of its id
alone, so the split never changes across reruns or however the documents are sharded.

Speed: the Rust pool of `tokenizers` encodes a batch on every core while this thread
turns the previous batch into Arrow arrays and writes it, so Python's share (about 100 ns
a token: the ids lists tokenizers hands out, the flat Arrow array, the Parquet writing)
overlaps the encoding (about 1.5 us a token on one core) instead of adding to it.

Memory, whatever the size of the shard: two batches of encodings (tokenizers keeps about
80 bytes a token until they are dropped), the documents row group being read, and fewer
than ROW_GROUP_ROWS + batch_size token rows per split waiting to be written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tokenizers import Encoding, Tokenizer

from storage import OutputWriter, StorageConfig, Store
from storage.parquet import ShardWriter, document_files, iter_batches, token_ids_type, tokens_schema
from tasks.stage import (OutputRef, PermanentError, Stage, StageContext, StageJob, StageResult, stage_task,
                         stored_ref)
from tasks.tokenizer import (
    ENDOFTEXT, SPLIT_SALT, TOKENIZER, document_batches, documents_rows, id_hash, load_tokenizer, size_thread_pool,
)

SPLITS = ("train", "validation")
# Row groups hold a fixed number of rows whatever the batch size, so a file's bytes depend
# on the documents alone and batch_size can stay out of the output key.
ROW_GROUP_ROWS = 2048


class TokenizeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(1024, ge=1, le=100_000, description="Documents per encode_batch call: memory is "
                                                                "bounded by a batch and a row group per split")
    validation_fraction: float = Field(0.01, ge=0.0, le=1.0,
                                       description="Share of documents, chosen by a hash of their id, for validation")
    max_rows_per_file: int = Field(1_000_000, ge=1, description="Documents per token file at most")
    max_bytes_per_file: int = Field(256 * 2**20, ge=1, description="Uncompressed bytes per token file, about")
    threads: int | None = Field(None, ge=1, description="Encoding threads; unset: every core the process may use. "
                                                       "Sized once per process, at its first parallel encode")


class TokenizeJob(StageJob):
    """One documents output, tokenized. `sources`: that documents output and the tokenizer
    output, in any order (a flow may also hand them to the task apart from the job)."""

    settings: TokenizeSettings = Field(default_factory=TokenizeSettings)

    @model_validator(mode="after")
    def _one_documents_and_the_tokenizer(self) -> TokenizeJob:
        if self.sources:
            try:
                self.split_sources()
            except PermanentError as exc:
                raise ValueError(str(exc)) from None
        return self

    def split_sources(self) -> tuple[OutputRef, OutputRef]:
        """(the documents output, the tokenizer output)."""
        return super().split_sources(TOKENIZER.name)

    @property
    def inputs(self) -> list[str]:
        # Documents first, tokenizer last, however the sources were given: the key is stable.
        return [ref.digest for ref in sorted(self.sources, key=lambda ref: (ref.stage == TOKENIZER.name, ref.digest))]

    def output_config(self) -> dict[str, Any]:
        # How the work is done (batches, threads) leaves the tokens unchanged.
        return self.settings.model_dump(mode="json", exclude={"batch_size", "threads"})


def tokenize_jobs(storage: StorageConfig, documents: Sequence[OutputRef], tokenizer: OutputRef,
                  settings: TokenizeSettings) -> list[TokenizeJob]:
    """One job per documents output, named after it."""
    return [TokenizeJob(storage=storage, shard=ref.shard or ref.key, sources=[ref, tokenizer], settings=settings)
            for ref in documents]


def tokenize_job(storage: StorageConfig, shard: str, settings: TokenizeSettings) -> TokenizeJob:
    """A job whose sources the flow hands to the task apart (`task.submit(job, sources=[...])`)."""
    return TokenizeJob(storage=storage, shard=shard, settings=settings)


def prepare_tokenizer(tokenizer: Tokenizer) -> tuple[Tokenizer, int]:
    """The tokenizer as this stage uses it, and the id of <|endoftext|>.

    Special-token text inside a document ("<|endoftext|>" quoted on a web page) is encoded
    as plain text, never as the control token. Padding or truncation saved in a supplied
    file would alter documents, so both are off; its post-processor is never applied
    (documents are encoded without special tokens and the stage appends <|endoftext|>).
    """
    eot = tokenizer.token_to_id(ENDOFTEXT)
    tokenizer.encode_special_tokens = True
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer, eot


# The stage


def tokenize_documents(job: TokenizeJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    store = Store(job.storage)
    documents, tokenizer_ref = job.split_sources()
    threads = size_thread_pool(job.settings.threads, ctx.logger)
    tokenizer, eot = prepare_tokenizer(load_tokenizer(store, tokenizer_ref))
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    names = document_files(documents.files)
    total = sum(documents_rows(store, documents, name) for name in names)
    ctx.logger.info("tokenize %s: %d documents in %d files, vocabulary %d, %d threads",
                    job.label, total, len(names), vocab_size, threads)
    splits = _Splits(out, tokens_schema(vocab_size), job.settings, eot)
    for batch, encodings in _encoded(store, documents, names, tokenizer, job.settings.batch_size):
        splits.add(batch, encodings)
        del batch, encodings  # before the next batch arrives: two batches in memory, not three
        ctx.progress(splits.counts["documents"], total, unit="doc")
    files = splits.close()
    counts = splits.counts
    ctx.logger.info("tokenize %s: %d tokens (train %d, validation %d), %.2f bytes per token", job.label,
                    counts["tokens_train"] + counts["tokens_validation"], counts["tokens_train"],
                    counts["tokens_validation"], bytes_per_token(counts))
    return StageResult(counts=counts, extra={"vocab_size": vocab_size, "ids_type": str(token_ids_type(vocab_size)),
                                             "files": files, "validation_fraction": job.settings.validation_fraction})


class _Splits:
    """The train and validation token files of one output, and their counts."""

    def __init__(self, out: OutputWriter, schema: pa.Schema, settings: TokenizeSettings, eot: int) -> None:
        self.schema = schema
        self.eot = eot
        self.threshold = int(settings.validation_fraction * 2**64)
        # Token ids do not repeat the way dictionary encoding wants: without it the files
        # are ~2.8x smaller and written faster.
        self.writers = {split: ShardWriter(out, split, schema, max_rows=settings.max_rows_per_file,
                                           max_bytes=settings.max_bytes_per_file, row_group_rows=ROW_GROUP_ROWS,
                                           use_dictionary=False)
                        for split in SPLITS}
        self.counts = dict.fromkeys(["documents", "bytes", "documents_train", "documents_validation",
                                     "tokens_train", "tokens_validation"], 0)

    def add(self, batch: pa.RecordBatch, encodings: list[Encoding]) -> None:
        doc_ids = batch.column("id").to_pylist()
        validation = [id_hash(doc_id, SPLIT_SALT) < self.threshold for doc_id in doc_ids]
        for split, wanted in (("train", False), ("validation", True)):
            chosen = [i for i, v in enumerate(validation) if v is wanted]
            table = _tokens_table([doc_ids[i] for i in chosen], [encodings[i] for i in chosen], self.schema, self.eot)
            self.writers[split].write_batch(table)
            self.counts[f"documents_{split}"] += table.num_rows
            self.counts[f"tokens_{split}"] += pc.sum(table.column("n_tokens")).as_py() or 0
        self.counts["documents"] += batch.num_rows
        self.counts["bytes"] += pc.sum(pc.binary_length(batch.column("text"))).as_py() or 0

    def close(self) -> dict[str, list[str]]:
        return {split: writer.close() for split, writer in self.writers.items()}


def _encoded(store: Store, ref: OutputRef, names: Sequence[str], tokenizer: Tokenizer,
             batch_size: int) -> Iterator[tuple[pa.RecordBatch, list[Encoding]]]:
    """(documents batch, its encodings), one batch ahead: a helper thread reads and
    encodes the next batch (the encoding releases the GIL) while the caller writes this one."""
    batches = (batch for name in names for batch in document_batches(store, ref, name, ["id", "text"], batch_size))

    def encode_next() -> tuple[pa.RecordBatch, list[Encoding]] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        texts = [text or "" for text in batch.column("text").to_pylist()]
        return batch, tokenizer.encode_batch_fast(texts, add_special_tokens=False)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize-encode") as pool:
        pending = pool.submit(encode_next)
        while True:
            done = pending.result()
            if done is None:
                return
            pending = pool.submit(encode_next)
            yield done
            del done


def _tokens_table(doc_ids: list[str], encodings: list[Encoding], schema: pa.Schema, eot: int) -> pa.Table:
    """Token rows built as Arrow buffers, one flat id array plus offsets, never a Python list
    per document; <|endoftext|> is inserted after each document's tokens."""
    id_type = schema.field("input_ids").type.value_type.to_pandas_dtype()
    lengths = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
    ends = np.cumsum(lengths)
    flat = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), dtype=id_type,
                       count=int(ends[-1]) if len(ends) else 0)
    values = np.insert(flat, ends, eot)
    offsets = np.zeros(len(encodings) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise PermanentError(f"a batch of {len(encodings)} documents holds {offsets[-1]} tokens; lower batch_size")
    input_ids = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values))
    return pa.Table.from_arrays([pa.array(doc_ids, pa.string()), input_ids, pa.array((lengths + 1).astype(np.int32))],
                                schema=schema)


TOKENIZE = Stage(name="tokenize", version="2", work=tokenize_documents)
tokenize_task = stage_task(TOKENIZE)


# Looking at the tokens


def bytes_per_token(counts: dict[str, int]) -> float:
    tokens = counts.get("tokens_train", 0) + counts.get("tokens_validation", 0)
    return counts.get("bytes", 0) / tokens if tokens else 0.0


def token_totals(refs: Sequence[OutputRef]) -> dict[str, int]:
    """The tokenize counts of many outputs, summed: what a flow reports for the stage."""
    totals: dict[str, int] = {}
    for ref in refs:
        for name, value in ref.counts.items():
            totals[name] = totals.get(name, 0) + value
    return totals


def describe_tokens(store: Store, refs: Sequence[OutputRef], tokenizer_ref: OutputRef, n_samples: int = 3,
                    chars: int = 300) -> str:
    """Counts per split, bytes per token and a few decoded documents, for people to look at."""
    tokenizer = load_tokenizer(store, tokenizer_ref)
    totals = token_totals(refs)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    lines = [f"{len(refs)} tokenize outputs; tokenizer {tokenizer_ref.uri} "
             f"(vocabulary {vocab}, ids {tokens_schema(vocab).field('input_ids').type.value_type})",
             f"{'split':<12}{'documents':>12}{'tokens':>16}{'files':>8}"]
    for split in SPLITS:
        files = sum(1 for ref in refs for name in ref.files if name.startswith(f"{split}-"))
        lines.append(f"{split:<12}{totals.get(f'documents_{split}', 0):>12,}{totals.get(f'tokens_{split}', 0):>16,}"
                     f"{files:>8}")
    lines.append(f"{totals.get('bytes', 0):,} bytes of text, {bytes_per_token(totals):.2f} bytes per token "
                 f"(tokens include one {ENDOFTEXT} per document)")
    for row in itertools.islice(_sample_rows(store, refs), n_samples):
        text = tokenizer.decode(row["input_ids"], skip_special_tokens=False)
        shown = text[:chars].replace("\n", "⏎ ") + ("…" if len(text) > chars else "")
        lines += ["", f"{row['doc_id']} ({row['n_tokens']} tokens):", f"  {shown}"]
    return "\n".join(lines)


def _sample_rows(store: Store, refs: Sequence[OutputRef]) -> Iterator[dict[str, Any]]:
    """The first row of each train file, one output after another: documents from across the run."""
    for ref in refs:
        for name in sorted(n for n in ref.files if n.startswith("train-")):
            for batch in iter_batches(store, ref.path(name), batch_size=1):
                yield batch.to_pylist()[0]
                break


def latest_token_outputs(store: Store) -> tuple[list[OutputRef], OutputRef] | None:
    """The committed tokenize outputs made with the most recently used tokenizer, and that
    tokenizer's output: what `fineflow tokens` shows when given only a storage root."""
    tokenizers = {ref.digest: ref for key in store.listdir(TOKENIZER.name, dirs_only=True)
                  if (ref := stored_ref(store, TOKENIZER.name, key)) is not None}
    groups: dict[str, list[tuple[Any, OutputRef]]] = {}
    for output in store.outputs(TOKENIZE.name):
        manifest = output.committed()
        if manifest is not None and len(manifest.inputs) == 2 and manifest.inputs[1] in tokenizers:
            ref = stored_ref(store, TOKENIZE.name, output.key)
            groups.setdefault(manifest.inputs[1], []).append((manifest.finished_at, ref))
    if not groups:
        return None
    latest = max(groups, key=lambda digest: max(finished for finished, _ in groups[digest]))
    refs = sorted((ref for _, ref in groups[latest]), key=lambda ref: ref.shard or ref.key)
    return refs, tokenizers[latest]
