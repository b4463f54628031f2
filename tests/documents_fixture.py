"""Committed documents outputs made from the sample crawl's ground truth, for the stages
that read documents (until the extract and filter stages produce them)."""

from __future__ import annotations

import json
import random
from functools import cache
from typing import Any

from storage import StorageConfig
from storage.parquet import DOCUMENTS, ShardWriter
from tasks.stage import OutputRef, Stage, StageJob, StageResult
from tasks.tokenizer import ENDOFTEXT
from tests.conftest import SAMPLE_CRAWL

# The languages of the sample crawl's pages.
LANGUAGES = {"en", "fr", "de", "es", "it", "pt", "nl", "ru", "ja", "zh"}
# Text that trips tokenizers up: control-token text, CRLF, tabs, emoji and ZWJ sequences,
# combining marks, right-to-left scripts, the replacement character, NUL.
TRICKY = [
    f"A page that quotes {ENDOFTEXT} and <|user|> in its text.",
    "line one\r\nline two\ttabbed\u00a0nbsp  double  spaces\n\n\n",
    "emoji 👩‍👩‍👧‍👦 🇫🇷 and e\u0301 (combining) vs é; नमस्ते दुनिया; مرحبا بالعالم; שלום",
    "\x00control\x1b[0m characters \ufffd and 12345678901234567890 digits",
    "   leading and trailing spaces   ",
    "",
]


@cache
def _expected() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads((SAMPLE_CRAWL / "expected.json").read_text()))


def sample_documents() -> list[dict[str, Any]]:
    """One DOCUMENTS row per sample page with text: its paragraphs joined by newlines."""
    return [
        {"id": r["record_id"], "url": r["url"], "crawl": "CC-MAIN-SAMPLE", "warc_path": r["warc"], "date": None,
         "language": r["language"], "language_score": None, "text": "\n".join(r["paragraphs"])}
        for r in _expected() if r.get("paragraphs")
    ]


class DocumentsJob(StageJob):
    documents: list[dict[str, Any]]
    rows_per_file: int = 1000


def _write(job: DocumentsJob, out, ctx) -> StageResult:
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=job.rows_per_file, row_group_rows=64) as shards:
        for doc in job.documents:
            shards.write(doc)
    return StageResult(counts={"documents": len(job.documents)})


FIXTURE_DOCUMENTS = Stage(name="documents", version="1", work=_write)


def documents_output(storage: StorageConfig | str, documents: list[dict[str, Any]], shard: str = "docs",
                     rows_per_file: int = 1000) -> OutputRef:
    storage = storage if isinstance(storage, StorageConfig) else StorageConfig(root=storage)
    job = DocumentsJob(storage=storage, shard=shard, documents=documents, rows_per_file=rows_per_file)
    return FIXTURE_DOCUMENTS.run(job)


def sharded(storage: StorageConfig | str, documents: list[dict[str, Any]], outputs: int, rows_per_file: int,
            seed: int = 0) -> list[OutputRef]:
    """The same documents shuffled and dealt into `outputs` outputs of small files."""
    shuffled = list(documents)
    random.Random(seed).shuffle(shuffled)
    return [documents_output(storage, shuffled[i::outputs], shard=f"part-{i}", rows_per_file=rows_per_file)
            for i in range(outputs)]
