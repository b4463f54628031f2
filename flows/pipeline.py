"""The pipeline flow: any contiguous range of stages, from Common Crawl to a trained GPT.

Per WARC file, download, extract and filter run as a chain of tasks, each file moving on
as soon as its own upstream task finishes. Dedup fans out per shard but must see every
shard; the tokenizer, tokenize (per shard) and train follow. Stages before `first` are
not run: their outputs are looked up in storage (a single-stage rerun against what is
already there).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from contextlib import nullcontext
from typing import Any, Literal

from prefect import Flow, Task, flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner
from prefect.tasks import exponential_backoff

from pydantic import BaseModel, Field

from flows.config import PipelineConfig
from flows.limits import ensure_tag_limit, limit_name
from flows.runners import StageProcessPool, download_runner_for, flow_run_settings, task_runner_for
from storage import Store
from storage.runs import PlannedOutput, RunPlan, write_plan
from tasks.accounting import AccountingError, check_balance, check_handover
from tasks.commoncrawl import list_warc_paths, resolve_crawl
from tasks.dedup import DEDUP_STAGES, committed_dedup, plan_dedup, submit_dedup
from tasks.download import DOWNLOAD, POLITE_TAG, DownloadJob, download_task
from tasks.extract import EXTRACT, ExtractJob, extract_task
from tasks.filter import FILTER, FilterJob, filter_task
from tasks.stage import (OutputRef, Stage, StageJob, committed_ref, for_storage, results_location,
                         retry_unless_permanent, with_sources)
from tasks.tokenize import TOKENIZE, token_totals, tokenize_jobs, tokenize_task
from tasks.tokenizer import TOKENIZER, tokenizer_job, tokenizer_task
from tasks.train import TRAIN, train_job, train_task

StageName = Literal["download", "extract", "filter", "dedup", "tokenizer", "tokenize", "train"]
PER_WARC: list[tuple[str, Stage, Task]] = [
    ("download", DOWNLOAD, download_task),
    ("extract", EXTRACT, extract_task),
    ("filter", FILTER, filter_task),
]
STAGE_NAMES = ["download", "extract", "filter", "dedup", "tokenizer", "tokenize", "train"]
LAST_PER_WARC = len(PER_WARC) - 1


class PipelineResult(BaseModel):
    """The outputs of a run: per WARC path, each per-shard stage's; and the run-wide ones."""

    shards: dict[str, dict[str, OutputRef]] = Field(default_factory=dict)
    run: dict[str, OutputRef] = Field(default_factory=dict)

# Looking up the crawl is cheap and must see today's 'latest', so it is retried, never cached.
resolve_crawl_task = task(resolve_crawl, name="resolve-crawl", retries=2, retry_delay_seconds=5, cache_policy=None,
                          retry_condition_fn=retry_unless_permanent)
list_paths_task = task(list_warc_paths, name="list-warc-paths", retries=2, retry_delay_seconds=5, cache_policy=None,
                       retry_condition_fn=retry_unless_permanent)


class PipelineFailed(RuntimeError):
    """Some WARC files' chains failed; the others completed. The message names them."""


def make_job(stage: str, config: PipelineConfig, crawl: str, path: str, slot: str | None = None) -> StageJob:
    """The job of `stage` for one WARC file, without its sources (the flow supplies them).
    `slot`: the concurrency limit a download holds while it fetches."""
    if stage == "download":
        d = config.download
        return DownloadJob(storage=config.storage, shard=path, crawl=crawl, data_url=config.crawl.data_url,
                           fetch=d.fetch, verify_attempts=d.verify_attempts, slot=slot)
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


def run_crawl() -> str:
    """The crawl the current flow run's `config` parameter names (a model, or its JSON from the API)."""
    config = get_run_context().flow_run.parameters["config"]
    return config.crawl.crawl if isinstance(config, PipelineConfig) else config["crawl"]["crawl"]


def _run_name() -> str:
    params = get_run_context().flow_run.parameters
    first, last = params.get("first", "download"), params.get("last", "train")
    stages = first if first == last else f"{first}..{last}"
    return f"{stages} {run_crawl()}"


def run_pipeline(config: PipelineConfig, first: StageName = "download", last: StageName = "train",
                 return_state: bool = False):
    """Call the flow with the task runner and the Prefect settings the config asks for."""
    runner = task_runner_for(config, first, last)
    # A process pool's workers import the stages while the engine creates the flow run.
    early = runner.spawned_early() if isinstance(runner, StageProcessPool) else nullcontext()
    with flow_run_settings(config.runner), early:
        return for_run(pipeline_flow, runner, config)(config, first, last, return_state=return_state)


def for_run(flow_: Flow, runner: TaskRunner, config: PipelineConfig) -> Flow:
    """The flow with this run's task runner, and its result storage under the storage root,
    where the stages persist theirs: without one, the engine asks the server for its default
    twice as the run starts, two round trips before it begins.

    A copy, not Prefect's `with_options`, which builds a new Flow and generates its
    parameter schema (the whole PipelineConfig's) again: 36 ms of CPU before every run."""
    copied = copy.copy(flow_)
    copied.task_runner = runner
    copied.result_storage = results_location(config.storage)
    return copied


# persist_result=False: the result is references to outputs already committed in storage,
# and unset, the engine asks the server whether it has a default storage as each run starts.
@flow(name="pipeline", flow_run_name=_run_name, log_prints=False, persist_result=False)
def pipeline_flow(config: PipelineConfig, first: StageName = "download",
                  last: StageName = "train") -> PipelineResult:
    """Run stages `first`..`last` for the selected WARC files of a crawl."""
    logger = get_run_logger()
    lo, hi = STAGE_NAMES.index(first), STAGE_NAMES.index(last)
    if lo > hi:
        raise ValueError(f"stage {first!r} comes after {last!r}")
    store = Store(config.storage)
    crawl, paths = select_warcs(config)
    logger.info("crawl %s: %d WARC files selected (%s); stages %s..%s; storage %s",
                crawl, len(paths), config.download.selection.describe(), first, last, store.uri())

    slot = None
    # A file:// mirror is copied, not fetched from anyone's server: nothing to be polite to,
    # and no slot to ask the Prefect server for (on SQLite, each such write may meet a 503).
    if lo == 0 and paths and not config.crawl.local_data:
        # Before the first download is submitted, so none starts unthrottled.
        if ensure_tag_limit(POLITE_TAG, config.download.polite_limit, logger) is not None:
            slot = limit_name(POLITE_TAG)
    bind = _binder(config)
    tasks = {name: bind(t, name) for name, _, t in PER_WARC[lo:hi + 1]}
    chains: list[dict[str, Any]] = [{"path": path} for path in paths]
    # Downloads wait on the network: threads of their own in this process, unless their
    # runner is the flow's (flows/runners.py `download_runner_for`).
    apart = download_runner_for(config, first, last)
    with apart if apart is not None else nullcontext() as downloads:
        planned = _submit_chains(chains, config, crawl, lo, hi, tasks, slot, downloads)
        write_plan(store, RunPlan(flow="pipeline", run_id=str(get_run_context().flow_run.id), crawl=crawl,
                                  outputs=planned))
        results, failures = _collect(chains, STAGE_NAMES[:min(hi, LAST_PER_WARC) + 1])
    result = PipelineResult(shards=results)
    # The funnel and the links to every output also when the run fails: what did finish is
    # in storage, and those links are the UI's only ones to it.
    try:
        if failures:
            raise PipelineFailed(f"{len(failures)} of {len(paths)} WARC files failed: " + "; ".join(failures))
        if hi > LAST_PER_WARC:
            _run_wide(config, result, lo, hi, bind)
    finally:
        _publish_funnel(results, crawl)
        _publish_outputs(result, crawl, store.uri())
    _publish_summary(result, crawl)
    return result


def _submit_chains(chains: list[dict[str, Any]], config: PipelineConfig, crawl: str, lo: int, hi: int,
                   tasks: dict[str, Task], slot: str | None, downloads: TaskRunner | None) -> list[PlannedOutput]:
    """Submit each file's download -> extract -> filter chain, from stage `lo` (earlier
    stages' outputs are looked up in storage; a chain missing one gets "missing"), downloads
    on `downloads` when given, the rest on the flow's runner. Returns the outputs planned."""
    planned: list[PlannedOutput] = []
    # Stage by stage, every file's task before the next stage's: each chain still moves on
    # as soon as its own upstream task finishes, but the process pool resolves submissions
    # in order on as many threads as it has workers, so a chain submitted whole would hold
    # them waiting while the next file's download had not even been handed over.
    for i, (name, stage, _) in enumerate(PER_WARC[: min(hi, LAST_PER_WARC) + 1]):
        for chain in chains:
            if "missing" in chain:
                continue
            path = chain["path"]
            upstream: OutputRef | PrefectFuture | None = chain[PER_WARC[i - 1][0]] if i else None
            job = make_job(name, config, crawl, path, slot=slot)
            sources = [] if upstream is None else [upstream]
            if STAGE_NAMES.index(name) < lo:
                ref = committed_ref(stage, with_sources(job, sources))
                if ref is None:
                    chain["missing"] = (f"{name} output of {path} is not in storage; "
                                        f"run `fineflow stage {name}` (or `fineflow run`) first")
                    continue
                chain[name] = ref
                continue
            if not isinstance(upstream, PrefectFuture):
                planned.append(PlannedOutput(stage=name, key=stage.key(with_sources(job, sources)), shard=path))
            if name == "download" and downloads is not None:
                # What Task.submit does, on another runner than the flow's.
                chain[name] = downloads.submit(tasks[name], {"job": job, "sources": sources})
            else:
                chain[name] = tasks[name].submit(job, sources=sources)
    return planned


def _binder(config: PipelineConfig):
    """A stage task bound to the storage root, with the retries the config gives its stage."""
    location = results_location(config.storage)

    def bind(stage_task_: Task, name: str) -> Task:
        download = name == "download"
        retries = config.download.retries if download else config.runner.retries
        delay = config.download.retry_delay_s if download else config.runner.retry_delay_s
        if name == "train":
            retries = config.runner.train_retries
        return for_storage(stage_task_, config.storage, location, retries=retries,
                           retry_delay_seconds=exponential_backoff(delay))
    return bind


def _run_wide(config: PipelineConfig, result: PipelineResult, lo: int, hi: int, bind) -> None:
    """dedup, tokenizer, tokenize and train: each needs every shard before it."""
    runs = {name: STAGE_NAMES.index(name) >= lo for name in STAGE_NAMES}
    storage = config.storage
    documents = {path: refs["filter"] for path, refs in result.shards.items()}
    if config.dedup.enabled:
        plan = plan_dedup(storage, config.dedup, list(documents.values()))
        if runs["dedup"]:
            futures = submit_dedup(plan, documents, {s.name: bind(t, "dedup") for s, t in DEDUP_STAGES})
            dedup = {path: _wait_ref(future, f"dedup {path.rsplit('/', 1)[-1]}") for path, future in futures.items()}
        else:
            found = committed_dedup(plan, documents)
            if found is None:
                raise PipelineFailed("dedup outputs are not in storage; run `fineflow stage dedup` first")
            dedup = found.dedup
        for path, ref in dedup.items():
            result.shards[path]["dedup"] = ref
        documents = dedup
    if hi < STAGE_NAMES.index("tokenizer"):
        return
    doc_refs = [documents[path] for path in sorted(documents)]
    tokenizer = _run_or_lookup(TOKENIZER, bind(tokenizer_task, "tokenizer"),
                               tokenizer_job(storage, doc_refs, config.tokenizer), runs["tokenizer"])
    result.run["tokenizer"] = tokenizer
    if hi < STAGE_NAMES.index("tokenize"):
        return
    jobs = tokenize_jobs(storage, doc_refs, tokenizer, config.tokenize)
    if runs["tokenize"]:
        task_ = bind(tokenize_task, "tokenize")
        futures = [(job, task_.submit(job)) for job in jobs]
        tokens = [_wait_ref(future, f"tokenize {job.label}") for job, future in futures]
    else:
        tokens = [_run_or_lookup(TOKENIZE, None, job, run=False) for job in jobs]
    for job, ref in zip(jobs, tokens):
        result.shards.setdefault(job.shard, {})["tokenize"] = ref
    if hi < STAGE_NAMES.index("train"):
        return
    result.run["train"] = _run_or_lookup(TRAIN, bind(train_task, "train"),
                                         train_job(storage, tokens, tokenizer, config.model, config.train),
                                         runs["train"])


def _wait_ref(future: PrefectFuture, what: str) -> OutputRef:
    state = future.wait() or future.state
    if state.is_completed():
        ref: OutputRef = state.result()
        return ref.model_copy(update={"reused": True}) if state.name == "Cached" else ref
    try:
        state.result()
        reason = state.message or state.name
    except BaseException as exc:  # noqa: BLE001 - reported, not handled
        reason = f"{type(exc).__name__}: {exc}"
    raise PipelineFailed(f"{what} failed: {reason}")


def _run_or_lookup(stage: Stage, task_: Task | None, job: StageJob, run: bool) -> OutputRef:
    if run:
        return _wait_ref(task_.submit(job), f"{stage.name} {job.label}")
    ref = committed_ref(stage, job)
    if ref is None:
        raise PipelineFailed(f"{stage.name} output for {job.label} is not in storage; "
                             f"run `fineflow stage {stage.name}` (or `fineflow run`) first")
    return ref


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
            if isinstance(chain[name], OutputRef):  # looked up in storage, not run
                refs[name] = chain[name]
                continue
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


def summary_rows(result: PipelineResult) -> list[dict[str, Any]]:
    """Documents, bytes and tokens through each stage: the run at a glance."""
    rows = []
    for row in funnel_rows(result.shards):
        if row["outcome"] == "read":
            stage = row["stage"]
            kept = sum(refs[stage].counts.get("kept", 0) for refs in result.shards.values() if stage in refs)
            rows.append({"stage": stage, "in": row["records"], "out": kept})
    tokens = [refs["tokenize"] for refs in result.shards.values() if "tokenize" in refs]
    if tokens:
        totals = token_totals(tokens)
        n_tokens = totals.get("tokens_train", 0) + totals.get("tokens_validation", 0)
        rows.append({"stage": "tokenize", "in": totals.get("documents", 0), "out": n_tokens,
                     "bytes": totals.get("bytes", 0),
                     "bytes_per_token": round(totals.get("bytes", 0) / n_tokens, 3) if n_tokens else None,
                     "tokens_train": totals.get("tokens_train", 0),
                     "tokens_validation": totals.get("tokens_validation", 0)})
    if "train" in result.run:
        counts = result.run["train"].counts
        rows.append({"stage": "train", "in": counts.get("tokens"), "out": counts.get("steps"),
                     "parameters": counts.get("parameters")})
    return rows


def _publish_summary(result: PipelineResult, crawl: str) -> None:
    rows = summary_rows(result)
    if rows:
        create_table_artifact(key="pipeline-summary", table=rows, description=f"Run summary, {crawl}")


def _publish_funnel(results: dict[str, dict[str, OutputRef]], crawl: str) -> None:
    rows = funnel_rows(results)
    if rows:
        create_table_artifact(key="pipeline-funnel", table=rows,
                              description=f"Records through each stage, {crawl} ({len(results)} WARC files)")


def outputs_markdown(result: PipelineResult, root: str) -> str:
    """Every output of a run as a link to its folder in storage: a row per WARC file and a
    column per stage, then the run-wide outputs. A cell reads as the output's key, so two
    runs can be compared by eye; `reused` marks outputs found committed, not recomputed."""
    stages = [name for name in STAGE_NAMES if any(name in refs for refs in result.shards.values())]
    lines = [f"Outputs in `{root}`; each links to its folder, whose `_manifest.json` lists its files. "
             "*reused*: found already committed, nothing recomputed.", ""]
    if stages:
        lines += ["| WARC file | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
        for path, refs in result.shards.items():
            cells = [_output_cell(refs[name]) if name in refs else "-" for name in stages]
            lines.append(f"| {_md_text(path.rsplit('/', 1)[-1])} | " + " | ".join(cells) + " |")
        lines.append("")
    if result.run:
        lines += ["| run-wide | output |", "|---|---|"]
        lines += [f"| {name} | {_output_cell(ref)} |" for name, ref in result.run.items()]
    return "\n".join(lines)


def _output_cell(ref: OutputRef) -> str:
    # Markdown link destinations end at a space or ')': percent-encode both (file:// URIs
    # already are; an s3:// prefix chosen by a user may not be).
    url = ref.url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{ref.key}]({url})" + (" *reused*" if ref.reused else "")


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")


def _publish_outputs(result: PipelineResult, crawl: str, root: str) -> None:
    if result.shards or result.run:
        create_markdown_artifact(key="pipeline-outputs", markdown=outputs_markdown(result, root),
                                 description=f"Outputs of this run in storage, {crawl}")
