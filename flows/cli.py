"""The `fineflow` command."""

from __future__ import annotations

import os

# Before Prefect is imported: a pipeline that must run offline sends no usage analytics.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from flows.config import ConfigError, PipelineConfig  # noqa: E402
from flows.pipeline import STAGE_NAMES  # noqa: E402
from flows.runners import flow_run_settings  # noqa: E402
from flows.server import server_env, service_settings_in_environment  # noqa: E402

SAMPLE_CRAWL = Path(__file__).resolve().parent.parent / "sample" / "crawl"
STAGE_CHOICES = STAGE_NAMES


class CommandError(RuntimeError):
    """A failure to report as one line, with a non-zero exit."""


def _parse_set(values: list[str]) -> dict[str, Any]:
    overrides = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: expected section.field=value")
        overrides[name.strip()] = yaml.safe_load(raw) if raw else ""
    return overrides


def _storage_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", metavar="URL", help="storage root: a folder, s3://bucket/prefix or memory:// (default ./data)")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="a PipelineConfig in YAML")
    parser.add_argument("--set", metavar="SECTION.FIELD=VALUE", action="append", default=[],
                        help="override one setting, e.g. --set download.concurrency=8 (repeatable)")
    _storage_args(parser)


def _crawl_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crawl", metavar="ID", help="crawl id, e.g. CC-MAIN-2024-10, or 'latest'")
    parser.add_argument("--data-url", metavar="URL", help="root of crawl-data/: https://data.commoncrawl.org (default), s3://commoncrawl/ or file://")
    parser.add_argument("--index-url", metavar="URL", help="collinfo.json used to resolve 'latest'")


def _selection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--max-warcs", type=int, metavar="N", help="the first N WARC files of the crawl")
    group.add_argument("--sample", type=int, metavar="N", help="a random sample of N WARC files (see --seed)")
    group.add_argument("--shard", metavar="I/N", help="every N-th WARC file starting at I (0-based)")
    group.add_argument("--paths", nargs="+", metavar="PATH", help="exactly these WARC paths")
    group.add_argument("--all", action="store_true", help="every WARC file of the crawl")
    parser.add_argument("--seed", type=int, default=0, help="seed for --sample (default 0)")
    parser.add_argument("--concurrency", type=int, metavar="N", help="WARC files downloaded at once")


def _runner_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runner", choices=["processes", "threads", "dask"],
                        help="task runner for CPU-bound stages: local processes (default), threads, or Dask")
    parser.add_argument("--dask-address", metavar="URL",
                        help="with --runner dask: an existing scheduler, e.g. tcp://host:8786 "
                             "(default: a LocalCluster for this run)")
    parser.add_argument("--workers", type=int, metavar="N", help="task runner workers (default: CPU cores)")


def _pipeline_args(parser: argparse.ArgumentParser) -> None:
    """What every command that runs stages takes: config, crawl, which WARC files, the task runner."""
    _config_args(parser)
    _crawl_args(parser)
    _selection_args(parser)
    _runner_args(parser)


def build_config(args: argparse.Namespace) -> PipelineConfig:
    overrides = _parse_set(getattr(args, "set", []) or [])
    if getattr(args, "dask_address", None) and getattr(args, "runner", None) not in (None, "dask"):
        raise ConfigError(f"--dask-address needs --runner dask, not --runner {args.runner}")
    if getattr(args, "dask_address", None) and getattr(args, "runner", None) is None:
        args.runner = "dask"
    flag_map = {"storage": "storage.root", "crawl": "crawl.crawl", "data_url": "crawl.data_url",
                "index_url": "crawl.index_url", "concurrency": "download.concurrency",
                "runner": "runner.kind", "dask_address": "runner.dask_address", "workers": "runner.workers"}
    for attr, dotted in flag_map.items():
        value = getattr(args, attr, None)
        if value is not None:
            overrides[dotted] = value
    selection = None
    if getattr(args, "max_warcs", None) is not None:
        selection = {"first": args.max_warcs}
    elif getattr(args, "sample", None) is not None:
        selection = {"sample": args.sample, "seed": args.seed}
    elif getattr(args, "shard", None) is not None:
        selection = {"shard": args.shard}
    elif getattr(args, "paths", None):
        selection = {"paths": args.paths}
    elif getattr(args, "all", False):
        selection = {}
    if selection is not None:
        overrides["download.selection"] = selection
    return PipelineConfig.load(getattr(args, "config", None), overrides)


@contextlib.contextmanager
def prefect_api() -> Iterator[None]:
    """Without PREFECT_API_URL, one temporary Prefect server for this command.

    Prefect would start one per process otherwise: the flow's, and again in every worker
    of a process pool, whose task runs would then land in servers nobody can see.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    with service_settings_in_environment():  # the server's process is started from this environment
        server.start()
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by worker processes
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
    finally:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # the last task logs, before their server goes away (flush is not a classmethod)
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def _run_flow(flow_fn, config: PipelineConfig):
    # The settings here as well as in `run_pipeline`: a stage command's own flow run (the
    # stage flow around the pipeline subflow) is one this process starts too.
    with prefect_api(), flow_run_settings(config.runner):
        state = flow_fn(config, return_state=True)
        if not state.is_completed():
            try:
                state.result()
            except BaseException as exc:  # noqa: BLE001 - turned into the one-line reason
                raise CommandError(str(exc) or type(exc).__name__) from None
            raise CommandError(state.message or f"flow ended {state.name}")
        return state.result()


def _print_result(result, last: str) -> None:
    from flows.pipeline import funnel_rows, summary_rows

    for path, refs in result.shards.items():
        stage = last if last in refs else next(reversed(refs), None)
        if stage is None:
            continue
        r = refs[stage]
        detail = ", ".join(f"{k}={v}" for k, v in r.counts.items() if not k.startswith("records:"))
        print(f"  {stage:<9} {path.rsplit('/', 1)[-1]}: {detail}{' (already in storage)' if r.reused else ''}")
    for stage, r in result.run.items():
        detail = ", ".join(f"{k}={v}" for k, v in r.counts.items())
        print(f"  {stage:<9} {r.uri}: {detail}{' (already in storage)' if r.reused else ''}")
    rows = funnel_rows(result.shards)
    if rows:
        print(f"{'stage':<9} {'outcome':<52} {'records':>8} {'share':>7}")
        for row in rows:
            print(f"{row['stage']:<9} {row['outcome']:<52} {row['records']:>8} {row['share']:>7}")
    for row in summary_rows(result):
        if row["stage"] in ("tokenize", "train"):
            print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))


def cmd_run(args: argparse.Namespace) -> int:
    from flows.pipeline import run_pipeline

    config = build_config(args)
    first = args.first or STAGE_NAMES[0]
    last = args.last or STAGE_NAMES[-1]
    if STAGE_NAMES.index(first) > STAGE_NAMES.index(last):
        raise CommandError(f"--from {first} comes after --until {last}")
    result = _run_flow(lambda c, return_state: run_pipeline(c, first, last, return_state=return_state), config)
    _report(result, last, config)
    return 0


def cmd_stage(args: argparse.Namespace) -> int:
    from flows.entrypoints import STAGE_FLOWS

    config = build_config(args)
    result = _run_flow(STAGE_FLOWS[args.name], config)  # the stage's own flow, as its deployment runs it
    _report(result, args.name, config)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    args.name = "download"
    return cmd_stage(args)


def _report(result, last: str, config: PipelineConfig) -> None:
    _print_result(result, last)
    if last in result.run:
        ref = result.run[last]
        print(f"{last}: {ref.uri}{' (already in storage)' if ref.reused else ''}")
    else:
        reused = sum(refs[last].reused for refs in result.shards.values() if last in refs)
        print(f"{last}: {len(result.shards)} outputs ({reused} already in storage) under {config.storage.root}")


def cmd_status(args: argparse.Namespace) -> int:
    from storage import Store
    from storage.status import collect_status

    config = build_config(args)
    rows = collect_status(Store(config.storage), args.stage)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    if not rows:
        print(f"nothing materialized under {config.storage.root}")
        return 0
    print(f"{'stage':<10} {'state':<10} {'key':<17} {'counts / error':<36} shard")
    for r in rows:
        detail = r.error or ", ".join(f"{k}={v}" for k, v in r.counts.items())
        print(f"{r.stage:<10} {r.state.value:<10} {r.key:<17} {detail:<36} {r.shard or '-'}")
    by_state: dict[str, int] = {}
    for r in rows:
        by_state[r.state.value] = by_state.get(r.state.value, 0) + 1
    print("; ".join(f"{n} {s}" for s, n in sorted(by_state.items())))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from storage import Store

    config = build_config(args)
    removed = Store(config.storage).clean_uncommitted(min_age_s=args.min_age)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} uncommitted output folder(s) removed")
    return 0


def demo_config(storage: str, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    if not (SAMPLE_CRAWL / "crawl-data").is_dir():
        raise CommandError(f"the sample crawl is missing at {SAMPLE_CRAWL}; run `python sample/generate.py`")
    return PipelineConfig.load(overrides={
        "storage.root": storage,
        "crawl.crawl": "latest",
        "crawl.data_url": SAMPLE_CRAWL.as_uri(),
        "crawl.index_url": (SAMPLE_CRAWL / "collinfo.json").as_uri(),
        "download.selection": {},
        # Sized for ~300 KB of text: a small vocabulary and enough documents to validate on.
        "tokenizer.vocab_size": 4096,
        "tokenize.validation_fraction": 0.1,
        # Done in well under a heartbeat interval: only the wait for the sender at the end.
        "runner.heartbeats": False,
        **(overrides or {}),
    })


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.pipeline import run_pipeline
    from storage import Store
    from storage.status import collect_status
    from tasks.trained import sample_text

    config = demo_config(args.storage or "./data/demo", _parse_set(args.set))
    print(f"fineflow demo: the crawl at {config.crawl.data_url} into {config.storage.root}")
    result = _run_flow(lambda c, return_state: run_pipeline(c, "download", "train", return_state=return_state),
                       config)
    _print_result(result, "train")
    store = Store(config.storage)
    train = result.run["train"]
    print(f"sample from the trained model ({train.counts.get('steps')} steps): "
          f"{sample_text(store, train, 'The', max_new_tokens=40, seed=0)!r}")
    rows = collect_status(store)
    print(f"{sum(r.state.value == 'committed' for r in rows)} outputs committed under {config.storage.root}; "
          f"see them with: fineflow status --storage {config.storage.root}")
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from storage import Store
    from tasks.tokenize import describe_tokens, latest_token_outputs

    config = build_config(args)
    store = Store(config.storage)
    found = latest_token_outputs(store)
    if found is None:
        raise CommandError(f"no token shards under {config.storage.root}; run `fineflow stage tokenize` first")
    refs, tokenizer = found
    print(describe_tokens(store, refs, tokenizer, n_samples=args.samples))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from storage import Store
    from tasks.trained import sample_text

    config = build_config(args)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(sample_text(Store(config.storage), args.run, args.prompt, max_new_tokens=args.max_tokens,
                      temperature=args.temperature, top_k=args.top_k, seed=seed))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from storage import Store
    from tasks.trained import export_hf

    config = build_config(args)
    out = export_hf(Store(config.storage), args.run, args.out)
    print(f"exported to {out} (load with transformers.GPT2LMHeadModel.from_pretrained({str(out)!r}))")
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    env = server_env(args.port)
    url = f"http://127.0.0.1:{args.port}"
    print(f"Prefect UI: {url}", flush=True)
    print(f"In other shells: export PREFECT_API_URL={url}/api", flush=True)
    argv = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(args.port)]
    # Become the server: Ctrl-C and SIGTERM reach it directly, and nothing is left behind.
    os.execve(sys.executable, argv, env)
    return 0  # not reached


def _deployment_specs(args: argparse.Namespace):
    from flows.deploy import SPEC, load_specs

    overrides = _parse_set(args.set)
    flag_map = {"crawl": "crawl.crawl", "data_url": "crawl.data_url", "index_url": "crawl.index_url"}
    for attr, dotted in flag_map.items():
        if getattr(args, attr, None) is not None:
            overrides[dotted] = getattr(args, attr)
    if args.max_warcs is not None:
        overrides["download.selection"] = {"first": args.max_warcs}
    return load_specs(Path(args.spec) if args.spec else SPEC, storage=args.storage, overrides=overrides,
                      only=args.only or None)


def _require_api(command: str) -> None:
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise CommandError(f"{command} needs a Prefect server: start one with `fineflow server`, then "
                           "export PREFECT_API_URL=http://127.0.0.1:4200/api")


def cmd_deploy(args: argparse.Namespace) -> int:
    from flows.deploy import deploy

    _require_api("fineflow deploy")
    specs = _deployment_specs(args)
    for name, deployment_id in deploy(specs, work_pool=args.pool):
        print(f"registered {name} ({deployment_id})")
    pool = args.pool or specs[0].work_pool
    print(f"start a worker: prefect worker start --pool {pool}")
    print(f"run one now:    prefect deployment run fineflow/{specs[0].name}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from prefect import serve

    from flows.deploy import runner_deployments

    _require_api("fineflow serve")
    deployments = runner_deployments(_deployment_specs(args))
    serve(*deployments, limit=args.limit)
    return 0


def _deployment_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", metavar="YAML", help="deployments file (default deployments/prefect.yaml)")
    parser.add_argument("--only", metavar="NAME", action="append", default=[],
                        help="only this deployment, e.g. weekly or stage-download (repeatable)")
    parser.add_argument("--storage", metavar="URL",
                        help="storage root (default: the Prefect Variable fineflow_storage)")
    parser.add_argument("--set", metavar="SECTION.FIELD=VALUE", action="append", default=[],
                        help="override one setting in every deployment's config (repeatable)")
    _crawl_args(parser)
    parser.add_argument("--max-warcs", type=int, metavar="N", help="the first N WARC files (default: the file's)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fineflow", description="Common Crawl to a trained GPT, as Prefect flows.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("download", help="download WARC files of a crawl into storage",
                       description="Download (and verify) WARC files of a Common Crawl crawl into storage. "
                                   "Files already committed are skipped.")
    _pipeline_args(p)
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("run", help="run the pipeline, from download to train, for the selected WARC files",
                       description="Run the stages from --from to --until for each selected WARC file; stages before "
                                   "--from are read from storage. Outputs already committed are reused.")
    _pipeline_args(p)
    p.add_argument("--from", dest="first", choices=STAGE_CHOICES, help="first stage to run (default download)")
    p.add_argument("--until", dest="last", choices=STAGE_CHOICES, help="last stage to run (default train)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("stage", help="run one stage alone against the outputs already in storage",
                       description="Run one stage for each selected WARC file, reading its inputs from storage: the "
                                   "stage's own flow, fineflow-NAME, as its deployment stage-NAME runs it.")
    p.add_argument("name", choices=STAGE_CHOICES, help="the stage")
    _pipeline_args(p)
    p.set_defaults(func=cmd_stage)

    p = sub.add_parser("tokens", help="token shards at a glance: counts per split and decoded samples",
                       description="Print token counts per split, bytes per token and a few decoded documents.")
    _config_args(p)
    p.add_argument("--samples", type=int, default=3, help="decoded documents to show (default 3)")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("sample", help="generate text from a trained model",
                       description="Sample from the newest committed training run (or --run KEY).")
    _config_args(p)
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--run", help="a train output key (default: the newest)")
    p.add_argument("--max-tokens", type=int, default=100)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("export", help="export a trained model to the Hugging Face GPT-2 layout",
                       description="Write config.json, model.safetensors and the tokenizer to --out.")
    _config_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--run", help="a train output key (default: the newest)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("status", help="what is materialized in storage, per stage and shard",
                       description="List stage outputs under a storage root: committed, failed, partial, "
                                   "and those the latest run planned but are missing.")
    _config_args(p)
    p.add_argument("--stage", help="only this stage")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("clean", help="remove uncommitted leftovers of killed or failed attempts",
                       description="Remove stage output folders that have no valid manifest.")
    _config_args(p)
    p.add_argument("--min-age", type=float, default=3600.0, metavar="SECONDS",
                   help="only folders untouched this long, sparing running attempts (default 3600)")
    p.set_defaults(func=cmd_clean)

    p = sub.add_parser("demo", help="the whole pipeline on the bundled sample crawl, offline",
                       description="Run the whole pipeline on the sample crawl bundled in sample/: download, "
                                   "extract, filter, dedup, tokenizer, tokenize, and a tiny GPT trained on CPU.")
    _storage_args(p)
    p.add_argument("--set", metavar="SECTION.FIELD=VALUE", action="append", default=[],
                   help="override one setting, e.g. --set train.steps=50 (repeatable)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("server", help="start a Prefect server and its UI on 127.0.0.1",
                       description="Run `prefect server start` on 127.0.0.1 with the UI calling the API on the "
                                   "same port, writing task runs and events in batches (flows/server.py); prints "
                                   "the UI address and the PREFECT_API_URL to export.")
    p.add_argument("--port", type=int, default=4200, help="port (default 4200)")
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("deploy", help="register the deployments of deployments/prefect.yaml with a server",
                       description="Register the weekly pipeline and one deployment per stage with the server at "
                                   "PREFECT_API_URL, for workers of a process work pool on this machine's checkout.")
    _deployment_args(p)
    p.add_argument("--pool", metavar="NAME", help="work pool (default: the file's, fineflow)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser("serve", help="serve the deployments from this process (one machine, no worker)",
                       description="Register the deployments of deployments/prefect.yaml and run their scheduled "
                                   "and triggered runs from this process until interrupted.")
    _deployment_args(p)
    p.add_argument("--limit", type=int, metavar="N", help="runs at once (default: no limit)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, CommandError) as exc:
        print(f"fineflow: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fineflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for people; the traceback is in the logs
        print(f"fineflow: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
