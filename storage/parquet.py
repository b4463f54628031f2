"""Parquet schemas of the pipeline's data, and streamed shard writing and reading.

Documents and token shards are plain Parquet (zstd): pyarrow, DuckDB, pandas and HF
`datasets` read them with no custom code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from storage.output import OutputWriter
    from storage.store import Store

# Stages that pass documents on name those files `documents-00000.parquet`, ...; what they
# set aside goes in other prefixes (`rejected-`, `removed-`) that downstream stages skip.
DOCUMENTS_PREFIX = "documents"


def document_files(files: Sequence[str]) -> list[str]:
    """The files of a stage output that downstream stages read as its documents."""
    return sorted(f for f in files if f.startswith(f"{DOCUMENTS_PREFIX}-") and f.endswith(".parquet"))


# One row per document. `id` is stable: derived from the WARC record id.
DOCUMENT_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("crawl", pa.string()),
    pa.field("warc_path", pa.string()),
    pa.field("date", pa.timestamp("ms", tz="UTC")),  # Parquet has no seconds unit
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float32()),
    pa.field("text", pa.string()),
]
DOCUMENTS = pa.schema(DOCUMENT_FIELDS)
# Rejected documents keep every column and say which filter and rule removed them.
REJECTED = pa.schema([*DOCUMENT_FIELDS, pa.field("reason", pa.string(), nullable=False)])


def token_ids_type(vocab_size: int) -> pa.DataType:
    """uint16 while the vocabulary fits in 16 bits, else uint32."""
    return pa.uint16() if vocab_size <= 2**16 else pa.uint32()


def tokens_schema(vocab_size: int) -> pa.Schema:
    return pa.schema([
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("input_ids", pa.list_(token_ids_type(vocab_size)), nullable=False),
        pa.field("n_tokens", pa.int32(), nullable=False),
    ])


class ShardWriter:
    """Writes rows into numbered Parquet files of bounded size inside one stage output:
    `{prefix}-00000.parquet`, `{prefix}-00001.parquet`, ...

    A new file starts once the current one holds `max_rows` rows or about `max_bytes` of
    (uncompressed) data, so no shard grows without bound. Rows and batches are buffered
    only until a row group of `row_group_rows` is full: memory is bounded by that, not by
    the shard, and however small the batches, row groups come out whole.
    `use_dictionary` is pyarrow's: off (or a list of columns) for data that does not
    repeat, such as token ids, where dictionaries only cost space and time.
    """

    def __init__(self, out: OutputWriter, prefix: str, schema: pa.Schema, *, max_rows: int = 1_000_000,
                 max_bytes: int = 512 << 20, row_group_rows: int = 10_000, compression: str = "zstd",
                 use_dictionary: bool | list[str] = True) -> None:
        self.out = out
        self.prefix = prefix
        self.schema = schema
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.row_group_rows = row_group_rows
        self.compression = compression
        self.use_dictionary = use_dictionary
        self.files: list[str] = []
        self.rows = 0
        self._rows: list[dict] = []
        self._tables: list[pa.Table] = []
        self._pending = 0
        self._sink = None
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._file_bytes = 0

    def write(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.row_group_rows:
            self._push_rows()

    def write_batch(self, batch: pa.RecordBatch | pa.Table) -> None:
        self._push_rows()  # rows given earlier go first
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._push(table.cast(self.schema) if table.schema != self.schema else table)

    def _push_rows(self) -> None:
        if self._rows:
            table = pa.Table.from_pylist(self._rows, schema=self.schema)
            self._rows = []
            self._push(table)

    def _push(self, table: pa.Table, final: bool = False) -> None:
        if table.num_rows:
            self._tables.append(table)
            self._pending += table.num_rows
        whole_groups = self._pending - self._pending % self.row_group_rows
        cut = self._pending if final else whole_groups
        if not cut:
            return
        pending = pa.concat_tables(self._tables) if len(self._tables) > 1 else self._tables[0]
        self._write_table(pending.slice(0, cut))
        rest = pending.slice(cut)
        self._tables, self._pending = ([rest] if rest.num_rows else []), rest.num_rows

    def _write_table(self, table: pa.Table) -> None:
        offset = 0
        while offset < table.num_rows:
            if self._writer is None:
                self._open()
            room = self.max_rows - self._file_rows
            part = table.slice(offset, min(room, table.num_rows - offset))
            self._writer.write_table(part, row_group_size=self.row_group_rows)
            offset += part.num_rows
            self._file_rows += part.num_rows
            self._file_bytes += part.nbytes
            self.rows += part.num_rows
            if self._file_rows >= self.max_rows or self._file_bytes >= self.max_bytes:
                self._close_file()

    def _open(self) -> None:
        name = f"{self.prefix}-{len(self.files):05d}.parquet"
        self._sink = self.out.open(name)
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression=self.compression,
                                        use_dictionary=self.use_dictionary)
        self.files.append(name)
        self._file_rows = 0
        self._file_bytes = 0

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None
            self._sink = None

    def close(self) -> list[str]:
        """Flush and close; returns the files written. With no rows at all, one empty file
        is still written so readers find the schema."""
        self._push_rows()
        if self._pending:
            self._push(pa.table({}), final=True)
        if not self.files:
            self._open()
        self._close_file()
        return self.files

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._sink is not None:
            self._sink.discard()


def iter_batches(store: Store, rel: str, columns: Sequence[str] | None = None,
                 batch_size: int = 1024) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file's rows in batches; never loads the whole file."""
    with store.open(rel, "rb") as f:
        parquet = pq.ParquetFile(f)
        yield from parquet.iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)
