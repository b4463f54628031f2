"""The download flow: resolve the crawl, choose WARC files, download each as a cached task."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.context import get_run_context
from prefect.tasks import exponential_backoff

from flows.common import collect, raise_failures, submit_bounded
from flows.config import PipelineConfig
from storage import Store
from storage.runs import PlannedOutput, RunPlan, write_plan
from tasks.commoncrawl import list_warc_paths, resolve_crawl
from tasks.download import DOWNLOAD, DownloadJob, download_task
from tasks.stage import OutputRef, for_storage, retry_unless_permanent

# Looking up the crawl is cheap and must see today's 'latest', so it is retried, never cached.
resolve_crawl_task = task(resolve_crawl, name="resolve-crawl", retries=2, retry_delay_seconds=5, cache_policy=None,
                          retry_condition_fn=retry_unless_permanent)
list_paths_task = task(list_warc_paths, name="list-warc-paths", retries=2, retry_delay_seconds=5, cache_policy=None,
                       retry_condition_fn=retry_unless_permanent)


def download_jobs(config: PipelineConfig, crawl: str, paths: list[str]) -> list[DownloadJob]:
    d = config.download
    return [
        DownloadJob(storage=config.storage, shard=path, crawl=crawl, data_url=config.crawl.data_url,
                    fetch=d.fetch, verify_attempts=d.verify_attempts)
        for path in paths
    ]


@flow(name="download", flow_run_name="download {config.crawl.crawl}", log_prints=False)
def download_flow(config: PipelineConfig) -> list[OutputRef]:
    """Download the selected WARC files of a crawl into storage, each verified and committed."""
    logger = get_run_logger()
    store = Store(config.storage)
    fetch = config.download.fetch
    crawl = resolve_crawl_task(config.crawl, fetch)
    paths = list_paths_task(config.crawl, crawl, fetch)
    selected = config.download.selection.apply(paths)
    logger.info("crawl %s: %d WARC files listed, %d selected (%s); storage %s",
                crawl, len(paths), len(selected), config.download.selection.describe(), store.uri())

    jobs = download_jobs(config, crawl, selected)
    run_id = str(get_run_context().flow_run.id)
    write_plan(store, RunPlan(flow="download", run_id=run_id, crawl=crawl, outputs=[
        PlannedOutput(stage=DOWNLOAD.name, key=DOWNLOAD.key(job), shard=job.shard) for job in jobs
    ]))

    runner = for_storage(download_task, config.storage, retries=config.download.retries,
                         retry_delay_seconds=exponential_backoff(config.download.retry_delay_s))
    futures = submit_bounded(runner, jobs, config.download.concurrency)
    refs, failures = collect(DOWNLOAD.name, jobs, futures)

    create_table_artifact(
        key="download-summary",
        table=[{"warc": r.shard, "bytes": r.counts.get("bytes"), "records": r.counts.get("gzip_members"),
                "reused": r.reused, "uri": r.uri} for r in refs]
              + [{"warc": line, "bytes": None, "records": None, "reused": None, "uri": "FAILED"} for line in failures],
        description=f"Download of {len(jobs)} WARC files of {crawl}",
    )
    raise_failures(DOWNLOAD.name, len(jobs), failures)
    return refs
