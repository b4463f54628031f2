"""The flows that deployments and the `fineflow` command start: the whole pipeline
(`fineflow`) and one flow per stage (`fineflow-download` .. `fineflow-train`).

A stage's flow runs that stage alone against the outputs already in storage: a rerun of
one stage from the command line (`fineflow stage NAME`) or from the UI (the `stage-NAME`
deployments), listed under its own flow, with the pipeline's config as its only
parameter (the UI's form). Each runs the `pipeline` flow as its subflow, with the task
runner its config names: a flow's own task runner is fixed when it is defined, so a
deployment of `pipeline_flow` itself would always run Prefect's default, threads.
Like `pipeline`, none persists its result: references to outputs already in storage.
"""

from __future__ import annotations

from prefect import Flow, flow

from flows.config import PipelineConfig
from flows.pipeline import STAGE_NAMES, PipelineResult, StageName, _run_name, run_crawl, run_pipeline


@flow(name="fineflow", flow_run_name=_run_name, log_prints=False, persist_result=False)
def fineflow_flow(config: PipelineConfig, first: StageName = "download", last: StageName = "train") -> PipelineResult:
    """Stages `first`..`last` of the pipeline, with the task runner `config.runner` names."""
    return run_pipeline(config, first, last)


def stage_flow(stage: StageName) -> Flow:
    """The flow `fineflow-<stage>`: `stage` alone, reading its inputs from storage."""
    if stage not in STAGE_NAMES:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGE_NAMES)}")

    def run_name() -> str:
        return f"{stage} {run_crawl()}"

    def run_stage(config: PipelineConfig) -> PipelineResult:
        return run_pipeline(config, stage, stage)

    run_stage.__name__ = run_stage.__qualname__ = f"{stage}_flow"
    run_stage.__doc__ = (f"The {stage} stage alone, against the outputs already in storage, with the task "
                         f"runner `config.runner` names.")
    return flow(run_stage, name=f"fineflow-{stage}", flow_run_name=run_name, log_prints=False, persist_result=False)


# Module attributes, so deployments can name them as entry points (flows/entrypoints.py:filter_flow).
download_flow = stage_flow("download")
extract_flow = stage_flow("extract")
filter_flow = stage_flow("filter")
dedup_flow = stage_flow("dedup")
tokenizer_flow = stage_flow("tokenizer")
tokenize_flow = stage_flow("tokenize")
train_flow = stage_flow("train")

STAGE_FLOWS: dict[str, Flow] = {stage: globals()[f"{stage}_flow"] for stage in STAGE_NAMES}
ENTRYPOINTS: dict[str, Flow] = {f"flows/entrypoints.py:{f.fn.__name__}": f
                                for f in (fineflow_flow, *STAGE_FLOWS.values())}
