"""fineflow's deployments, as `deployments/prefect.yaml` describes them.

The YAML file is the one source: `prefect deploy --prefect-file deployments/prefect.yaml`
reads it, and so do `fineflow deploy` (registers the deployments with a server, for workers
of a process work pool) and `fineflow serve` (runs them from this process). Keeping the
definitions in the file Prefect's own tooling understands means the two paths cannot drift.

Each deployment names its flow by entry point: the whole pipeline (`fineflow_flow`) or
one stage's flow, all in flows/entrypoints.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prefect import Flow

from flows.config import ConfigError, set_dotted, validate_config
from flows.entrypoints import ENTRYPOINTS

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "deployments" / "prefect.yaml"
STORAGE_VARIABLE = "fineflow_storage"


@dataclass
class DeploymentSpec:
    """One deployment of `deployments/prefect.yaml`, its templates resolved."""

    name: str
    entrypoint: str
    parameters: dict[str, Any]
    description: str = ""
    tags: list[str] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    work_pool: str | None = None
    work_queue: str | None = None

    @property
    def flow(self) -> Flow:
        return ENTRYPOINTS[self.entrypoint]

    @property
    def full_name(self) -> str:
        return f"{self.flow.name}/{self.name}"

    def prefect_schedules(self) -> list:
        from prefect.schedules import Cron, Interval

        out = []
        for s in self.schedules:
            if "cron" in s:
                out.append(Cron(s["cron"], timezone=s.get("timezone")))
            elif "interval" in s:
                out.append(Interval(s["interval"], timezone=s.get("timezone")))
            else:
                raise ConfigError(f"deployment {self.name}: only cron and interval schedules are supported, not {s}")
        return out


def load_specs(path: Path = SPEC, storage: str | None = None, overrides: dict[str, Any] | None = None,
               only: list[str] | None = None) -> list[DeploymentSpec]:
    """The deployments of `path`. `storage` replaces the storage root (otherwise the Prefect
    Variable the file names is read from the server); `overrides` are dotted config settings
    applied to every deployment, e.g. {"download.selection": {"first": 2}}."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    entries = data.get("deployments") or []
    known = [e["name"] for e in entries]
    for name in only or []:
        if name not in known:
            raise ConfigError(f"no deployment {name!r} in {path}; there are: {', '.join(known)}")
    specs = []
    for entry in entries:
        if only and entry["name"] not in only:
            continue
        entrypoint = entry.get("entrypoint")
        if entrypoint not in ENTRYPOINTS:
            raise ConfigError(f"deployment {entry['name']}: entrypoint {entrypoint!r} is not one of fineflow's "
                              f"flows: {', '.join(ENTRYPOINTS)}")
        params = copy.deepcopy(entry.get("parameters") or {})  # YAML aliases share one dict
        flow = ENTRYPOINTS[entrypoint]
        unknown = sorted(set(params) - set(flow.parameters.properties))
        if unknown:
            raise ConfigError(f"deployment {entry['name']}: the flow {flow.name} has no parameter {', '.join(unknown)}")
        config = params.setdefault("config", {})
        if storage is not None:
            set_dotted(config, "storage.root", storage)
        for dotted, value in (overrides or {}).items():
            set_dotted(config, dotted, value)
        pool = entry.get("work_pool") or {}
        specs.append(DeploymentSpec(name=entry["name"], entrypoint=entrypoint, parameters=params,
                                    description=entry.get("description", ""), tags=list(entry.get("tags") or []),
                                    schedules=list(entry.get("schedules") or []), work_pool=pool.get("name"),
                                    work_queue=pool.get("work_queue_name")))
    specs = _resolve_templates(specs)
    for spec in specs:
        # Fail at registration, naming the field, rather than at the first scheduled run.
        spec.parameters["config"] = validate_config(spec.parameters["config"]).model_dump(mode="json", exclude_unset=True)
        if not spec.parameters["config"].get("storage", {}).get("root"):
            raise ConfigError(f"deployment {spec.name}: no storage root; pass --storage or set the Prefect "
                              f"Variable: prefect variable set {STORAGE_VARIABLE} s3://bucket/fineflow")
    return specs


def _resolve_templates(specs: list[DeploymentSpec]) -> list[DeploymentSpec]:
    """`{{ prefect.variables.NAME }}` and `{{ prefect.blocks... }}` as `prefect deploy` resolves them."""
    text = yaml.safe_dump([s.parameters for s in specs])
    if "{{" not in text:
        return specs
    from prefect.utilities.asyncutils import run_coro_as_sync
    from prefect.utilities.templating import resolve_block_document_references, resolve_variables

    async def resolve(values):
        values = await resolve_block_document_references(values)
        return await resolve_variables(values)

    resolved = run_coro_as_sync(resolve([s.parameters for s in specs]))
    for spec, params in zip(specs, resolved):
        spec.parameters = params
    return specs


def runner_deployments(specs: list[DeploymentSpec]) -> list:
    """For `serve`: the deployments, run by this process."""
    return [s.flow.to_deployment(name=s.name, parameters=s.parameters, description=s.description, tags=s.tags,
                                 schedules=s.prefect_schedules())
            for s in specs]


def deploy(specs: list[DeploymentSpec], work_pool: str | None = None) -> list[tuple[str, Any]]:
    """Register the deployments with the server for workers of a process work pool; the
    code stays in this checkout (flow.from_source of the repository root)."""
    out = []
    for s in specs:
        pool = work_pool or s.work_pool
        if not pool:
            raise ConfigError(f"deployment {s.name}: no work pool; pass --pool")
        source = Flow.from_source(source=str(REPO), entrypoint=s.entrypoint)
        deployment_id = source.deploy(name=s.name, work_pool_name=pool, work_queue_name=s.work_queue,
                                      build=False, push=False, parameters=s.parameters, description=s.description,
                                      tags=s.tags, schedules=s.prefect_schedules(), print_next_steps=False,
                                      ignore_warnings=True)
        out.append((s.full_name, deployment_id))
    return out
