"""The download stage: one WARC file from Common Crawl into storage, byte for byte."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from storage import OutputWriter
from tasks.fetch import Fetcher, FetchSettings, join_url
from tasks.gzipcheck import BackgroundVerifier, CorruptGzip
from tasks.stage import Stage, StageContext, StageJob, StageResult, stage_task


class DownloadJob(StageJob):
    """`shard` is the WARC path relative to the data URL, and alone decides the output:
    the same file fetched from https, S3 or a local mirror is the same output."""

    not_in_key: ClassVar[frozenset[str]] = frozenset({"crawl", "data_url", "fetch", "verify_attempts", "slot"})

    crawl: str
    data_url: str
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    verify_attempts: int = Field(2, ge=1, description="Whole fresh downloads tried when a finished one fails verification")
    slot: str | None = Field(None, description="The Prefect concurrency limit to hold a slot of while fetching "
                                              "(the polite limit), or None")


class DownloadVerificationError(RuntimeError):
    pass


def download_warc(job: DownloadJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    """Stream the WARC into `out`, verifying length and every gzip member on the way.

    A download that fails verification is discarded (never committed) and fetched again
    from the start, `verify_attempts` times in all.
    """
    url = join_url(job.data_url, job.shard)
    name = job.label
    with ctx.slot(job.slot), Fetcher(job.fetch, logger=ctx.logger) as fetcher:
        for attempt in range(1, job.verify_attempts + 1):
            total: dict[str, int | None] = {"size": None}
            with BackgroundVerifier() as verifier, out.open(name) as sink:
                try:
                    for chunk in fetcher.stream(url, on_total=lambda n: total.update(size=n)):
                        sink.write(chunk)
                        verifier.feed(chunk)
                        ctx.progress(sink.size, total["size"])
                    if total["size"] is not None and sink.size != total["size"]:
                        raise CorruptGzip(f"received {sink.size} bytes, the server announced {total['size']}")
                    members = verifier.finish()
                except CorruptGzip as exc:
                    sink.discard()
                    if attempt == job.verify_attempts:
                        raise DownloadVerificationError(f"{url}: download failed verification: {exc}") from None
                    ctx.logger.warning("%s: %s; downloading again (attempt %d)", url, exc, attempt + 1)
                    continue
            return StageResult(
                counts={"bytes": sink.size, "gzip_members": members},
                extra={"source": url, "crawl": job.crawl, "attempts": attempt},
            )
    raise AssertionError("unreachable")


DOWNLOAD = Stage(name="download", version="1", work=download_warc)

# The polite limit: the pipeline flow makes sure the Prefect server has a tag concurrency
# limit on this tag (`download.polite_limit`; Prefect keeps it as the global limit
# `tag:fineflow:download`), and every download from a server (not a file:// mirror) holds
# a slot of it while it fetches (`DownloadJob.slot`), so all flow runs and workers sharing
# the server together keep at most that many requests open to the crawl's host. The task
# itself is not tagged: a tagged task run asks for its slot before Prefect's cache check,
# so cached reruns would queue for it too (and, tagged as well, a download would hold one
# slot and wait for a second). A tag of its own, not `stage:download`: the limit is about
# the remote server, and its name says so in `prefect concurrency-limit ls`.
POLITE_TAG = "fineflow:download"
download_task = stage_task(DOWNLOAD)
