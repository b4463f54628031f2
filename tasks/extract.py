"""The extract stage: one WARC file in, one shard of documents out (FineWeb's first steps).

Per response record, cheapest decision first: HTTP status, truncation, is it HTML, size,
the URL filter, charset decoding, then trafilatura in datatrove's sandbox (a child process
with a per-document time limit). Every response record ends up kept, rejected (URL
filter, written to `rejected-*.parquet`) or skipped with a reason, and the manifest's
counts add up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage import OutputWriter, Store
from storage.parquet import DOCUMENTS, REJECTED, ShardWriter
from tasks.accounting import Tally
from tasks.htmltext import UndecodableError, decode_html, is_html
from tasks.sandbox import ForkServerSandbox
from tasks.stage import PermanentError, Stage, StageContext, StageJob, StageResult, stage_task
from tasks.urlfilter import UrlFilter, UrlFilterSettings


class ExtractSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url_filter: UrlFilterSettings = Field(default_factory=UrlFilterSettings)
    timeout_s: float = Field(2.0, gt=0, description="Per-document limit for trafilatura")
    max_html_bytes: int = Field(1_000_000, ge=1024, description="Larger bodies are skipped as too_large")
    favour_precision: bool = Field(True, description="trafilatura's favor_precision (FineWeb: on)")
    deduplicate: bool = Field(True, description="trafilatura's in-document deduplication (datatrove's default)")
    rows_per_file: int = Field(100_000, ge=1)


class ExtractJob(StageJob):
    """sources = [the committed download output of one WARC file]."""

    crawl: str
    settings: ExtractSettings = Field(default_factory=ExtractSettings)


def record_id(warc_record_id: str) -> str:
    """`<urn:uuid:...>` -> the uuid: stable across reruns, unique within Common Crawl."""
    return warc_record_id.strip("<>").removeprefix("urn:uuid:")


class Extractor:
    """trafilatura with FineWeb's settings, through datatrove's block, in the sandbox."""

    def __init__(self, settings: ExtractSettings) -> None:
        from datatrove.pipeline.extractors import Trafilatura

        self.block = Trafilatura(favour_precision=settings.favour_precision, timeout=settings.timeout_s,
                                 deduplicate=settings.deduplicate)
        self.sandbox = ForkServerSandbox(settings.timeout_s)

    def __enter__(self) -> Extractor:
        self.sandbox.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.__exit__(*exc)

    def extract(self, html: str) -> str | None:
        """Raises TimeoutError past the limit; the sandbox then starts a fresh child."""
        return self.sandbox.process_document(html, self.block.extract)


def classify(record: Any, settings: ExtractSettings) -> str | None:
    """Why a response record is not an HTML document to extract, or None if it is."""
    status = record.http_headers.get_statuscode() if record.http_headers else None
    code = int(status) if status and status.isdigit() else 0
    if 300 <= code < 400:
        return "redirect"
    if code != 200:
        return "error_status" if code >= 400 else f"status_{code or 'missing'}"
    if record.rec_headers.get_header("WARC-Truncated"):
        return "truncated"
    return None


def extract_warc(job: ExtractJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    [source] = job.sources
    [warc_name] = [f for f in source.files if f.endswith((".warc.gz", ".warc"))]
    warc_path = source.shard or warc_name
    store = Store(job.storage)
    settings = job.settings
    url_filter = UrlFilter(settings.url_filter) if settings.url_filter.enabled else None
    tally = Tally()
    _quiet_datatrove()

    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    with store.open(source.path(warc_name), "rb") as raw, \
            ShardWriter(out, "documents", DOCUMENTS, max_rows=settings.rows_per_file) as kept, \
            ShardWriter(out, "rejected", REJECTED, max_rows=settings.rows_per_file) as rejected, \
            Extractor(settings) as extractor:
        try:
            for record in ArchiveIterator(raw):
                if record.rec_type != "response":
                    tally.add(f"records:{record.rec_type}")
                    continue
                tally.read()
                _process(record, job, warc_path, settings, url_filter, extractor, tally, kept, rejected, ctx.logger)
                ctx.progress(raw.tell(), source.counts.get("bytes"), unit="B")
        except ArchiveLoadFailed as exc:
            raise PermanentError(f"{source.uri}/{warc_name} is not a readable WARC file: {exc}") from exc
    return StageResult(counts=tally.counts(), extra={"warc_path": warc_path, "crawl": job.crawl})


def _process(record: Any, job: ExtractJob, warc_path: str, settings: ExtractSettings, url_filter: UrlFilter | None,
             extractor: Extractor, tally: Tally, kept: ShardWriter, rejected: ShardWriter,
             logger: logging.Logger | logging.LoggerAdapter) -> None:
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    row = {
        "id": record_id(headers.get_header("WARC-Record-ID") or ""),
        "url": url, "crawl": job.crawl, "warc_path": warc_path,
        "date": _warc_date(headers.get_header("WARC-Date")),
        "language": None, "language_score": None, "text": None,
    }
    try:
        if (reason := classify(record, settings)) is not None:
            tally.skipped(reason)
            return
        body = record.content_stream().read(settings.max_html_bytes + 1)
        if len(body) > settings.max_html_bytes:
            tally.skipped("too_large")
            return
        content_type = record.http_headers.get_header("Content-Type")
        if not is_html(headers.get_header("WARC-Identified-Payload-Type"), content_type, body):
            tally.skipped("not_html")
            return
        if url_filter is not None and (reason := url_filter.check(url)) is not None:
            tally.rejected(reason)
            rejected.write({**row, "reason": reason})
            return
        try:
            html, _ = decode_html(body, content_type)
        except UndecodableError:
            tally.skipped("undecodable")
            return
        try:
            text = extractor.extract(html)
        except TimeoutError:
            logger.warning("%s: extraction timed out after %.1f s; skipped", url, settings.timeout_s)
            tally.skipped("timeout")
            return
        except EOFError:
            tally.skipped("extractor_died")
            return
        if not text or not text.strip():
            tally.skipped("no_text")
            return
        kept.write({**row, "text": text})
        tally.kept()
    except Exception as exc:  # noqa: BLE001 - one bad record never kills the shard
        logger.warning("%s: %s: %s; record skipped", url, type(exc).__name__, exc)
        tally.skipped(f"error:{type(exc).__name__}")


def _warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _quiet_datatrove() -> None:
    # datatrove logs each sandbox start and stop through loguru at INFO; our logger says
    # what matters (timeouts, errors) once per record.
    from loguru import logger

    logger.disable("datatrove")


EXTRACT = Stage(name="extract", version="1", work=extract_warc)
extract_task = stage_task(EXTRACT)
