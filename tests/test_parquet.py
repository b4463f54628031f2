"""Parquet shards: bounded size, streamed, readable by plain pyarrow."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import Store
from storage.parquet import DOCUMENTS, ShardWriter, iter_batches, token_ids_type, tokens_schema


def doc(i: int) -> dict:
    return {"id": f"d{i}", "url": f"https://e.org/{i}", "crawl": "C", "warc_path": "w", "date": None,
            "language": "en", "language_score": 0.9, "text": "word " * (i % 50)}


@pytest.mark.parametrize("root", ["memory://pq-test", "local"])
def test_rows_roll_over_into_bounded_shards_and_read_back(root, tmp_path):
    store = Store(str(tmp_path) if root == "local" else root)
    writer = store.output("extract", "k").begin()
    with ShardWriter(writer, "docs", DOCUMENTS, max_rows=400, row_group_rows=100) as shards:
        for i in range(1000):
            shards.write(doc(i))
    assert shards.files == ["docs-00000.parquet", "docs-00001.parquet", "docs-00002.parquet"]
    manifest = writer.commit(shard="s", config_digest="c", inputs=[], counts={}, stage_version="1")
    assert [f.path for f in manifest.files] == shards.files
    rows = [r for f in shards.files for b in iter_batches(store, f"extract/k/{f}", ["id"]) for r in b.to_pylist()]
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(1000)]
    if root == "local":
        table = pq.read_table(tmp_path / "extract/k/docs-00001.parquet")
        assert table.num_rows == 400 and table.schema.equals(DOCUMENTS)
        assert pq.ParquetFile(tmp_path / "extract/k/docs-00001.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


def test_empty_output_still_has_a_readable_file():
    store = Store("memory://pq-empty")
    writer = store.output("filter", "k").begin()
    with ShardWriter(writer, "kept", DOCUMENTS) as shards:
        pass
    assert shards.files == ["kept-00000.parquet"]
    assert sum(b.num_rows for b in iter_batches(store, "filter/k/kept-00000.parquet")) == 0


def test_token_id_width_follows_the_vocabulary():
    assert token_ids_type(50257) == pa.uint16() and token_ids_type(65536) == pa.uint16()
    assert token_ids_type(65537) == pa.uint32()
    assert tokens_schema(100_000).field("input_ids").type == pa.list_(pa.uint32())


def test_small_batches_make_whole_row_groups_without_dictionaries(tmp_path):
    store = Store(str(tmp_path))
    writer = store.output("tokenize", "k").begin()
    schema = tokens_schema(1000)
    with ShardWriter(writer, "train", schema, row_group_rows=50, use_dictionary=False) as shards:
        for b in range(30):
            shards.write_batch(pa.table({"doc_id": [f"d{b}-{i}" for i in range(7)],
                                         "input_ids": [[b, i, 0] for i in range(7)],
                                         "n_tokens": [3] * 7}, schema=schema))
    meta = pq.ParquetFile(tmp_path / "tokenize/k/train-00000.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [50, 50, 50, 50, 10]
    column = meta.row_group(0).column(1)
    assert "PLAIN_DICTIONARY" not in column.encodings and "RLE_DICTIONARY" not in column.encodings
    ids = pq.read_table(tmp_path / "tokenize/k/train-00000.parquet").column("doc_id").to_pylist()
    assert ids == [f"d{b}-{i}" for b in range(30) for i in range(7)]
