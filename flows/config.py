"""PipelineConfig: one pydantic model, a section per stage, from YAML and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from storage import StorageConfig
from tasks.commoncrawl import CrawlSettings, Selection
from tasks.dedup import DedupSettings
from tasks.extract import ExtractSettings
from tasks.fetch import FetchSettings
from tasks.filter import FilterSettings
from tasks.tokenize import TokenizeSettings
from tasks.tokenizer import TokenizerSettings
from tasks.train import ModelSettings, TrainSettings


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the field."""


class DownloadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selection: Selection = Field(default_factory=lambda: Selection(first=1),
                                 description="Which WARC files; the default, one file, is a safe first run")
    concurrency: int = Field(4, ge=1, le=64, description="WARC files downloaded at once by a run: threads in the "
                                                         "flow's process, beside the CPU-bound stages' workers "
                                                         "(on Dask, downloads run on the cluster instead)")
    polite_limit: int = Field(4, ge=0, le=256,
                              description="Most WARC downloads at once across all flow runs and workers sharing the "
                                          "Prefect server: a tag concurrency limit on 'fineflow:download', created if "
                                          "missing; one already on the server is the operator's and wins; "
                                          "0: leave the server's limits alone. Copies from a file:// mirror reach no "
                                          "server and take no slot")
    retries: int = Field(3, ge=0, le=20, description="Prefect retries of a failed WARC download task")
    retry_delay_s: float = Field(10.0, ge=0, description="First task retry delay; doubles each retry, with jitter")
    verify_attempts: int = Field(2, ge=1, le=10)
    fetch: FetchSettings = Field(default_factory=FetchSettings)


class RunnerSettings(BaseModel):
    """How a flow runs its tasks. CPU-bound stages belong in processes, not threads."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["processes", "threads", "dask"] = "processes"
    workers: int | None = Field(None, ge=1, description="Default: the number of CPU cores")
    dask_address: str | None = Field(None, description="With kind 'dask': the scheduler of an existing Dask cluster, "
                                                       "e.g. tcp://10.0.0.5:8786; without it, a LocalCluster of "
                                                       "`workers` single-threaded processes for the run")
    retries: int = Field(2, ge=0, le=20, description="Prefect retries of a failed task (download has its own)")
    retry_delay_s: float = Field(10.0, ge=0, description="First retry delay; doubles each retry, with jitter")
    train_retries: int = Field(2, ge=0, le=20, description="Each retry of training resumes from its checkpoint")
    heartbeats: bool = Field(True, description="Prefect flow-run heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, "
                                               "180 s by default), which let an automation detect a run that died. "
                                               "Off: none, and no wait of up to 1 s at the end of every flow run "
                                               "while Prefect stops their sender. For runs this process starts; a "
                                               "deployment's flow run takes its worker's setting")


class PipelineConfig(BaseModel):
    """Everything a run needs. It is the flows' parameter, so the Prefect UI renders it as a form."""

    model_config = ConfigDict(extra="forbid")

    storage: StorageConfig = Field(default_factory=StorageConfig)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    extract: ExtractSettings = Field(default_factory=ExtractSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    tokenizer: TokenizerSettings = Field(default_factory=TokenizerSettings)
    tokenize: TokenizeSettings = Field(default_factory=TokenizeSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)

    @classmethod
    def load(cls, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
        """From a YAML file (optional), then dotted overrides such as {"download.concurrency": 8}."""
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(Path(path).read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
            except yaml.YAMLError as exc:
                raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
            if loaded is not None and not isinstance(loaded, dict):
                raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(loaded).__name__}")
            data = loaded or {}
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value)
        return validate_config(data)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a section")
        node = child
    node[leaf] = value


def validate_config(data: dict[str, Any]) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        problems.append(f"{field}: {message}")
    return "invalid configuration: " + "; ".join(problems)
