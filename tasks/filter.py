"""The filter stage: one shard of documents in, kept and rejected documents out.

FineWeb's order and thresholds, each filter a datatrove block: fastText language ID,
Gopher repetition, Gopher quality, C4 quality (terminal punctuation rule off) and
FineWeb quality. Every rejected document is written to `rejected-*.parquet` with its
`reason` (`filter:rule`) and the same columns as the kept ones.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from storage import OutputWriter, Store
from storage.parquet import DOCUMENTS, REJECTED, ShardWriter, document_files, iter_batches
from tasks.accounting import Tally, check_handover
from tasks.stage import PermanentError, Stage, StageContext, StageJob, StageResult, stage_task

BUNDLED_LID_MODEL = Path(__file__).resolve().parent / "assets" / "lid.176.ftz"


class BlockSettings(BaseModel):
    """Settings of one datatrove filter: its fields are the block's own arguments."""

    model_config = ConfigDict(extra="forbid")
    block: ClassVar[str]

    enabled: bool = True

    def build(self) -> Any:
        import datatrove.pipeline.filters as filters

        return getattr(filters, self.block)(**self.model_dump(exclude={"enabled"}))


class LanguageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    languages: list[str] = Field(default_factory=lambda: ["en"], description="ISO 639-1 codes to keep")
    threshold: float = Field(0.65, ge=0, le=1, description="Minimum fastText score (FineWeb: 0.65)")
    model_path: str | None = Field(None, description="A fastText LID model; default: the bundled lid.176.ftz")

    def build(self) -> Any:
        return _language_filter(tuple(self.languages), self.threshold, self.model_path or str(BUNDLED_LID_MODEL))


@lru_cache(maxsize=4)
def _language_filter(languages: tuple[str, ...], threshold: float, model_path: str) -> Any:
    """Loaded once per process; datatrove would download lid.176.bin, so its model is ours."""
    from datatrove.pipeline.filters import LanguageFilter
    from fasttext.FastText import _FastText

    if not Path(model_path).is_file():
        raise PermanentError(f"language ID model not found at {model_path} (setting filter.language.model_path)")
    block = LanguageFilter(languages=list(languages), language_threshold=threshold)
    try:
        block.model._model = _FastText(model_path)
    except ValueError as exc:
        raise PermanentError(f"{model_path} is not a fastText model: {exc}") from exc
    return block


class GopherRepetitionSettings(BlockSettings):
    block: ClassVar[str] = "GopherRepetitionFilter"
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]


class GopherQualitySettings(BlockSettings):
    block: ClassVar[str] = "GopherQualityFilter"
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2


class C4QualitySettings(BlockSettings):
    block: ClassVar[str] = "C4QualityFilter"
    split_paragraph: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = Field(False, description="Off, as in FineWeb")
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


class FineWebQualitySettings(BlockSettings):
    block: ClassVar[str] = "FineWebQualityFilter"
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class FilterSettings(BaseModel):
    """FineWeb's filters in FineWeb's order, with its thresholds as defaults."""

    model_config = ConfigDict(extra="forbid")

    language: LanguageSettings = Field(default_factory=LanguageSettings)
    gopher_repetition: GopherRepetitionSettings = Field(default_factory=GopherRepetitionSettings)
    gopher_quality: GopherQualitySettings = Field(default_factory=GopherQualitySettings)
    c4_quality: C4QualitySettings = Field(default_factory=C4QualitySettings)
    fineweb_quality: FineWebQualitySettings = Field(default_factory=FineWebQualitySettings)
    rows_per_file: int = Field(100_000, ge=1)
    batch_size: int = Field(1024, ge=1)

    def blocks(self) -> list[tuple[str, Any]]:
        """(name, datatrove block) of the enabled filters, in order."""
        order = ["language", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
        return [(name, getattr(self, name).build()) for name in order if getattr(self, name).enabled]


class FilterJob(StageJob):
    """sources = [the committed extract output of one WARC file]."""

    not_in_key: ClassVar[frozenset[str]] = frozenset()
    settings: FilterSettings = Field(default_factory=FilterSettings)


def verdict(block: Any, doc: Any) -> str | None:
    """None to keep, else the block's reason (datatrove returns True, False or (False, why))."""
    result = block.filter(doc)
    if result is True or (isinstance(result, tuple) and result[0]):
        return None
    return result[1] if isinstance(result, tuple) and result[1] else "rejected"


def filter_documents(job: FilterJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    from datatrove.data import Document

    [source] = job.sources
    store = Store(job.storage)
    blocks = job.settings.blocks()
    tally = Tally()
    total = source.counts.get("kept")
    columns = [f.name for f in DOCUMENTS]
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=job.settings.rows_per_file) as kept, \
            ShardWriter(out, "rejected", REJECTED, max_rows=job.settings.rows_per_file) as rejected:
        for name in document_files(source.files):
            try:
                batches = iter_batches(store, source.path(name), columns=columns, batch_size=job.settings.batch_size)
                for batch in batches:
                    for row in batch.to_pylist():
                        tally.read()
                        doc = Document(text=row["text"] or "", id=row["id"], metadata={"url": row["url"]})
                        try:
                            reason = _first_rejection(blocks, doc)
                        except Exception as exc:  # noqa: BLE001 - one bad document never kills the shard
                            ctx.logger.warning("%s: %s: %s; document skipped", row["url"], type(exc).__name__, exc)
                            tally.skipped(f"error:{type(exc).__name__}")
                            continue
                        row.update(text=doc.text, language=doc.metadata.get("language"),
                                   language_score=doc.metadata.get("language_score"))
                        if reason is None:
                            kept.write(row)
                            tally.kept()
                        else:
                            rejected.write({**row, "reason": reason})
                            tally.rejected(reason)
                    ctx.progress(tally.read_count, total, unit="doc")
            except (OSError, ValueError) as exc:
                if "parquet" in str(exc).lower() or isinstance(exc, OSError):
                    raise PermanentError(f"cannot read documents file {source.uri}/{name}: {exc}") from exc
                raise
    counts = tally.counts()
    check_handover(source.counts, counts, f"filter {job.label}")
    return StageResult(counts=counts)


# datatrove's quality filters share one spaCy tokenizer per process, and spaCy is not
# thread-safe (concurrent use corrupts its vocabulary: error E064). Under a thread runner
# filter tasks take turns; under the default process runner nothing ever waits here.
_SHARED_BLOCKS = threading.Lock()


def _first_rejection(blocks: list[tuple[str, Any]], doc: Any) -> str | None:
    with _SHARED_BLOCKS:
        for name, block in blocks:
            reason = verdict(block, doc)
            if reason is not None:
                return name if name == "language" else f"{name}:{reason}"
    return None


FILTER = Stage(name="filter", version="1", work=filter_documents)
filter_task = stage_task(FILTER)
