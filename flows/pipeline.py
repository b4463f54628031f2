"""The pipeline flow: per WARC file, a chain of stage tasks; any contiguous range of stages.

Stages before `first` are not run: their outputs are looked up in storage (a single-stage
rerun against what is already there). Stages from `first` to `last` run as Prefect tasks,
each WARC file's chain moving on as soon as its own upstream task finishes, with no
barrier between stages.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Literal

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.context import get_run_context
from prefect.futures import PrefectFuture
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff

from flows.config import PipelineConfig
from storage import Store
from storage.runs import PlannedOutput, RunPlan, write_plan
from tasks.accounting import AccountingError, check_balance, check_handover
from tasks.commoncrawl import list_warc_paths, resolve_crawl
from tasks.download import DOWNLOAD, DownloadJob, download_task
from tasks.extract import EXTRACT, ExtractJob, extract_task
from tasks.filter import FILTER, FilterJob, filter_task
from tasks.stage import OutputRef, Stage, StageJob, committed_ref, for_storage, retry_unless_permanent, with_sources

StageName = Literal["download", "extract", "filter"]
PER_WARC: list[tuple[str, Stage, Task]] = [
    ("download", DOWNLOAD, download_task),
    ("extract", EXTRACT, extract_task),
    ("filter", FILTER, filter_task),
]
STAGE_NAMES = [name for name, _, _ in PER_WARC]

# Looking up the crawl is cheap and must see today's 'latest', so it is retried, never cached.
resolve_crawl_task = task(resolve_crawl, name="resolve-crawl", retries=2, retry_delay_seconds=5, cache_policy=None,
                          retry_condition_fn=retry_unless_permanent)
list_paths_task = task(list_warc_paths, name="list-warc-paths", retries=2, retry_delay_seconds=5, cache_policy=None,
                       retry_condition_fn=retry_unless_permanent)


class PipelineFailed(RuntimeError):
    """Some WARC files' chains failed; the others completed. The message names them."""


def make_job(stage: str, config: PipelineConfig, crawl: str, path: str) -> StageJob:
    """The job of `stage` for one WARC file, without its sources (the flow supplies them)."""
    if stage == "download":
        d = config.download
        return DownloadJob(storage=config.storage, shard=path, crawl=crawl, data_url=config.crawl.data_url,
                           fetch=d.fetch, verify_attempts=d.verify_attempts)
    if stage == "extract":
        return ExtractJob(storage=config.storage, shard=path, crawl=crawl, settings=config.extract)
    if stage == "filter":
        return FilterJob(storage=config.storage, shard=path, settings=config.filter)
    raise ValueError(f"unknown stage {stage!r}")


def select_warcs(config: PipelineConfig) -> tuple[str, list[str]]:
    fetch = config.download.fetch
    crawl = resolve_crawl_task(config.crawl, fetch)
    paths = list_paths_task(config.crawl, crawl, fetch)
    return crawl, config.download.selection.apply(paths)


def _run_name() -> str:
    params = get_run_context().flow_run.parameters
    first, last = params.get("first", "download"), params.get("last", "filter")
    stages = first if first == last else f"{first}..{last}"
    config = params["config"]
    crawl = config.crawl.crawl if isinstance(config, PipelineConfig) else config["crawl"]["crawl"]
    return f"{stages} {crawl}"


def task_runner_for(config: PipelineConfig, first: str, last: str):
    """Downloads alone are network-bound: threads. Anything else: processes by default."""
    if first == last == "download":
        return ThreadPoolTaskRunner(max_workers=config.download.concurrency)
    workers = config.runner.workers or os.cpu_count() or 1
    if config.runner.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    return ProcessPoolTaskRunner(max_workers=workers)


def run_pipeline(config: PipelineConfig, first: StageName = "download", last: StageName = "filter",
                 return_state: bool = False):
    """Call the flow with the task runner the config asks for."""
    runner = task_runner_for(config, first, last)
    return pipeline_flow.with_options(task_runner=runner)(config, first, last, return_state=return_state)


@flow(name="pipeline", flow_run_name=_run_name, log_prints=False)
def pipeline_flow(config: PipelineConfig, first: StageName = "download",
                  last: StageName = "filter") -> dict[str, dict[str, OutputRef]]:
    """Run stages `first`..`last` for the selected WARC files of a crawl.

    Returns, per WARC path, the output of each stage that ran.
    """
    logger = get_run_logger()
    lo, hi = STAGE_NAMES.index(first), STAGE_NAMES.index(last)
    if lo > hi:
        raise ValueError(f"stage {first!r} comes after {last!r}")
    store = Store(config.storage)
    crawl, paths = select_warcs(config)
    logger.info("crawl %s: %d WARC files selected (%s); stages %s..%s; storage %s",
                crawl, len(paths), config.download.selection.describe(), first, last, store.uri())

    tasks = {
        name: for_storage(t, config.storage,
                          retries=config.download.retries if name == "download" else config.runner.retries,
                          retry_delay_seconds=exponential_backoff(
                              config.download.retry_delay_s if name == "download" else config.runner.retry_delay_s))
        for name, _, t in PER_WARC[lo:hi + 1]
    }
    planned: list[PlannedOutput] = []
    chains: list[dict[str, Any]] = []
    for path in paths:
        chain: dict[str, Any] = {"path": path}
        upstream: OutputRef | PrefectFuture | None = None
        for name, stage, _ in PER_WARC[: hi + 1]:
            job = make_job(name, config, crawl, path)
            sources = [] if upstream is None else [upstream]
            if STAGE_NAMES.index(name) < lo:
                ref = committed_ref(stage, with_sources(job, sources))
                if ref is None:
                    chain["missing"] = (f"{name} output of {path} is not in storage; "
                                        f"run `fineflow stage {name}` (or `fineflow run`) first")
                    break
                upstream = ref
            else:
                if not isinstance(upstream, PrefectFuture):
                    planned.append(PlannedOutput(stage=name, key=stage.key(with_sources(job, sources)), shard=path))
                upstream = tasks[name].submit(job, sources=sources)
                chain[name] = upstream
        chains.append(chain)
    write_plan(store, RunPlan(flow="pipeline", run_id=str(get_run_context().flow_run.id), crawl=crawl,
                              outputs=planned))

    results, failures = _collect(chains, STAGE_NAMES[lo:hi + 1])
    _publish_funnel(results, crawl)
    if failures:
        raise PipelineFailed(f"{len(failures)} of {len(paths)} WARC files failed: " + "; ".join(failures))
    return results


def _collect(chains: list[dict[str, Any]], stages: list[str]) -> tuple[dict[str, dict[str, OutputRef]], list[str]]:
    """Wait for every chain; the refs of complete chains and one line per failed chain."""
    results: dict[str, dict[str, OutputRef]] = {}
    failures: list[str] = []
    for chain in chains:
        path = chain["path"]
        label = path.rsplit("/", 1)[-1]
        if "missing" in chain:
            failures.append(f"{label}: {chain['missing']}")
            continue
        refs: dict[str, OutputRef] = {}
        problem = None
        for name in stages:
            state = chain[name].wait() or chain[name].state
            if state.is_completed():
                ref: OutputRef = state.result()
                refs[name] = ref.model_copy(update={"reused": True}) if state.name == "Cached" else ref
                continue
            if problem is None:
                try:
                    state.result()
                    reason = state.message or state.name
                except BaseException as exc:  # noqa: BLE001 - reported, not handled
                    reason = f"{type(exc).__name__}: {exc}"
                problem = f"{label}: {name} failed: {reason}"
        if problem is None:
            problem = _accounting_problem(refs, stages, label)
        if problem:
            failures.append(problem)
        else:
            results[path] = refs
    return results, failures


def _accounting_problem(refs: dict[str, OutputRef], stages: list[str], label: str) -> str | None:
    try:
        for name in stages:
            if "read" in refs[name].counts:
                check_balance(refs[name].counts, f"{name} {label}")
        if "extract" in refs and "filter" in refs:
            check_handover(refs["extract"].counts, refs["filter"].counts, f"filter {label}")
    except AccountingError as exc:
        return str(exc)
    return None


def funnel_rows(results: dict[str, dict[str, OutputRef]]) -> list[dict[str, Any]]:
    """FineWeb's 'removed by each step': per stage, what came in and where it went."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for refs in results.values():
        for name, ref in refs.items():
            for key, value in ref.counts.items():
                totals[name][key] += value
    rows = []
    for name in STAGE_NAMES:
        counts = totals.get(name)
        if not counts or "read" not in counts:
            continue
        read = counts["read"]
        for key in sorted(k for k in counts if k == "kept" or k.startswith(("rejected:", "skipped:"))):
            rows.append({"stage": name, "outcome": key, "records": counts[key],
                         "share": f"{100 * counts[key] / read:.1f}%" if read else "-"})
        rows.append({"stage": name, "outcome": "read", "records": read, "share": "100%"})
    return rows


def _publish_funnel(results: dict[str, dict[str, OutputRef]], crawl: str) -> None:
    rows = funnel_rows(results)
    if rows:
        create_table_artifact(key="pipeline-funnel", table=rows,
                              description=f"Records through each stage, {crawl} ({len(results)} WARC files)")
    shards = [{"warc": path.rsplit("/", 1)[-1], **{f"{n} key": r.key for n, r in refs.items()},
               **{f"{n} reused": r.reused for n, r in refs.items()}} for path, refs in results.items()]
    if shards:
        create_table_artifact(key="pipeline-outputs", table=shards, description=f"Outputs per WARC file, {crawl}")
