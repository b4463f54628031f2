"""Prefect's overhead on the demo pipeline: the flow against the same stage functions in a bare process pool.

    python -m bench.overhead [--workers 2] [--train-steps N] [--copies 1] [--repeat 1] [--keep] [--ephemeral]

A real `prefect server start` is launched on 127.0.0.1 first, configured as `fineflow
server` configures it (flows/server.py: task runs and events written in batches), with its
own temporary PREFECT_HOME, analytics and UI off, a free port, and PREFECT_API_URL points at
it; its start-up is timed and printed apart, never counted.

The crawl: the bundled sample crawl (3 WARC files), or with --copies N a crawl built in the
temporary folder in Common Crawl's layout (collinfo.json, crawl-data/CC-MAIN-SAMPLE/
warc.paths.gz, segments/*/warc/*.warc.gz) holding N copies of each sample WARC, copy k under
its own segment folder and WARC file numbers (copy 0 keeps the sample's names), so that every
stage sees N times the WARC files: more work per run against the same fixed costs, as on a
real crawl. The copies are identical: download, extract and filter do the full work per file,
and dedup removes the copies as exact duplicates. Every run below, (a) to (e), reads it through
the same overrides (crawl.data_url, crawl.index_url; `--set` for the commands).
Then, into fresh storage roots:

(a) fineflow via Prefect: `run_pipeline(demo_config(root))`, the whole demo (download ..
    train on the crawl) with the default task runner, a process pool of
    `--workers` processes (runner.workers).
(b) direct: the same stage functions, `Stage.run(job)`, on the same jobs (built with the
    flow's own helpers: make_job, plan_dedup, tokenizer_job, tokenize_jobs, train_job,
    with_sources) in a `concurrent.futures.ProcessPoolExecutor(max_workers=--workers)`
    with the spawn context, as Prefect's runner uses, whose workers are prepared as
    fineflow's are (`tasks.worker`: exit_without_teardown, prepare_worker), downloads in
    a thread pool of download.concurrency threads in this process, and the flow's
    dependency structure: per-WARC chains download -> extract -> filter running
    concurrently, then dedup signatures per shard, clusters, dedup per shard, the
    tokenizer, tokenize per shard, train. The crawl listing runs in this process, as the
    flow runs it in its own.
    (a) and (b) must agree: every committed output of the deterministic stages has the
    same key and manifest digest in both roots (train: the same key and step count);
    the bench stops with the difference otherwise.
(c) all-cached rerun through Prefect: (a)'s config again on (a)'s root, in this process.
(d) the same rerun as the command `fineflow demo --storage ROOT` in a fresh subprocess
    with PREFECT_API_URL set: wall time with interpreter start-up and imports.
(e) with --ephemeral: (d) without PREFECT_API_URL (the command starts its own temporary
    server, as `make demo` does on a machine without a server; its database, in a PREFECT_HOME
    of its own, is created by one untimed run first).

Targets: Prefect adds under 5% on the demo ((a) against (b)); an all-cached rerun takes
under 15 s ((d)). --repeat N alternates the order of (a) and (b) and reports medians; before
them, --warmup N untimed rounds of (a) and (b) (default 1) take the one-time costs of a fresh
server and cold caches, which whichever side runs first would otherwise pay alone.

Also printed, to say where (a)'s extra time goes: CPU seconds of this process, of its pool
workers and of the server's process tree, and (a)'s extra CPU spread over the cores as a
share of (b): on cores the work fills, a floor no waiting removes; the API requests each
run made, the most frequent endpoints, and how many the server answered 503 (its SQLite
database busy; the client retries those after ~2 s), from the server's access log; per
stage, from the manifests' start and finish times on both sides, the work, when it started
and finished and the hand-off from its inputs, and for (a) the task runs' Pending ->
Running and Running -> final as the server recorded them; and the machine's load average
at start and end (it is shared: compare rounds).
(b) leaves out what the flow does besides the stages (the run plan, the artifacts): a few
milliseconds, counted as Prefect's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# Nothing here imports Prefect at module level: its settings are read when it is first
# imported, which must happen after PREFECT_API_URL and PREFECT_HOME point at our server.

REPO = Path(__file__).resolve().parent.parent
ACCESS_LINE = re.compile(r'"(GET|POST|PATCH|PUT|DELETE) (/\S+) HTTP/[\d.]+" (\d{3})')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SAMPLE_CRAWL = REPO / "sample" / "crawl"  # as flows/cli.py; not imported from there (it imports Prefect)
WARC_NUMBER = re.compile(r"^(.*-)(\d+)(\.warc\.gz)$")  # CC-MAIN-<start>-<end>-00000.warc.gz
DETERMINISTIC = ("download", "extract", "filter", "dedup-signatures", "dedup-clusters", "dedup", "tokenizer",
                 "tokenize")
STAGE_ORDER = (*DETERMINISTIC, "train")


# the server


@dataclass
class Server:
    proc: subprocess.Popen
    api: str
    home: Path
    startup_s: float
    log: Any

    def cpu_s(self) -> float:
        return tree_cpu_s(self.proc.pid)

    def log_size(self) -> int:
        return (self.home / "server.log").stat().st_size

    def requests(self, since: int) -> dict[tuple[str, str, int], int]:
        """(method, path, status) -> count, from the access log written after offset `since`."""
        time.sleep(0.5)  # the last lines of the access log
        with open(self.home / "server.log", "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        counts: dict[tuple[str, str, int], int] = {}
        for method, path, status in ACCESS_LINE.findall(text):
            key = (method, UUID.sub("{id}", path.split("?", 1)[0]), int(status))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, timeout_s: float = 120.0, services: bool = True) -> Server:
    """`prefect server start` on 127.0.0.1 with its own home and database, configured as
    `fineflow server` configures it (flows/server.py; as tests/conftest.py), or with
    `services=False`, with Prefect's default service settings (bench.prefect_costs compares)."""
    import httpx

    from flows.server import SERVICE_SETTINGS, server_env

    port = free_port()
    # INFO: uvicorn's access log, one line per request, is how the bench counts API calls and 503s.
    env = server_env(port, base={**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                                 "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "INFO"})
    if not services:  # what fineflow added goes; what this environment sets stays
        for name in SERVICE_SETTINGS.keys() - os.environ.keys():
            del env[name]
    log = open(home / "server.log", "wb")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api"
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.perf_counter() - started > timeout_s:
            proc.kill()
            log.close()
            raise SystemExit(f"the Prefect server did not come up: {(home / 'server.log').read_text()[-3000:]}")
        time.sleep(0.25)
    return Server(proc, api, home, time.perf_counter() - started, log)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu.get(p, 0.0)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return total


def own_cpu_s() -> tuple[float, float]:
    """CPU seconds of this process (every thread), and of its children that have been waited
    for (the pool workers once their pool has shut down; the command of (d) and (e))."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


# the crawl


def build_crawl(folder: Path, copies: int) -> tuple[Path, int]:
    """A crawl in Common Crawl's layout under `folder` with `copies` copies of every sample WARC:
    copy k of segment j (of S) in segment `<its timestamp>.<k * S + j>`, copy k of WARC i (of W)
    numbered k * W + i, so copy 0 keeps the sample's names. The collinfo.json is the sample's.
    Returns the crawl's root (for crawl.data_url) and its number of WARC files."""
    import gzip
    import json

    crawl = json.loads((SAMPLE_CRAWL / "collinfo.json").read_text())[0]["id"]
    source = SAMPLE_CRAWL / "crawl-data" / crawl
    segments = sorted(p.name for p in (source / "segments").iterdir() if p.is_dir())
    warcs = sorted((source / "segments").glob("*/warc/*.warc.gz"), key=lambda p: p.name)
    if not warcs:
        raise SystemExit(f"no sample WARC files under {source}/segments; run `python sample/generate.py`")
    width = max(len(WARC_NUMBER.match(p.name)[2]) for p in warcs)
    folder.mkdir(parents=True)
    shutil.copyfile(SAMPLE_CRAWL / "collinfo.json", folder / "collinfo.json")
    paths = []
    for k in range(copies):
        for i, warc in enumerate(warcs):
            j = segments.index(warc.parent.parent.name)
            segment = f"{segments[j].rsplit('.', 1)[0]}.{k * len(segments) + j}"
            prefix, _, suffix = WARC_NUMBER.match(warc.name).groups()
            path = f"crawl-data/{crawl}/segments/{segment}/warc/{prefix}{k * len(warcs) + i:0{width}d}{suffix}"
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(warc, folder / path)
            paths.append(path)
    with gzip.open(folder / "crawl-data" / crawl / "warc.paths.gz", "wt", encoding="utf-8") as f:
        f.write("".join(f"{path}\n" for path in paths))
    return folder, len(paths)


# measurements


@dataclass
class Measurement:
    wall_s: float
    main_cpu_s: float  # this process
    children_cpu_s: float  # pool workers, or the command's process tree
    server_cpu_s: float
    t0: float  # time.time() when the clock started
    requests: dict[tuple[str, str, int], int] = field(default_factory=dict)
    root: Path | None = None
    flow_run_id: Any = None
    note: str = ""
    timeline: dict[str, Any] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(self.requests.values())

    @property
    def busy(self) -> int:
        """Requests the server answered 503 (SQLite busy): each is retried after ~2 s."""
        return sum(n for (_, _, status), n in self.requests.items() if status == 503)


def measure(server: Server, fn) -> tuple[Measurement, Any]:
    (main, children), server_cpu, offset = own_cpu_s(), server.cpu_s(), server.log_size()
    t0 = time.time()
    started = time.perf_counter()
    result = fn()
    wall = time.perf_counter() - started
    main_after, children_after = own_cpu_s()
    server_after = server.cpu_s()
    return Measurement(wall, main_after - main, children_after - children, server_after - server_cpu, t0,
                       server.requests(offset)), result


def run_prefect(config) -> tuple[Any, Any]:
    """(a) and (c): the flow as `fineflow demo` runs it (without the printing)."""
    from flows.pipeline import run_pipeline

    state = run_pipeline(config, "download", "train", return_state=True)
    if not state.is_completed():
        state.result()  # raises the flow's error
        raise SystemExit(f"the flow ended {state.name}: {state.message}")
    return state.result(), state.state_details.flow_run_id


def _run_stage(stage, job):
    """In a pool worker: one stage, as the Prefect task runs it but without Prefect."""
    return stage.run(job), os.getpid()


def _start_bare_worker() -> None:
    """(b)'s initializer: fineflow's pool worker set-up without Prefect's part."""
    from tasks.worker import exit_without_teardown, prepare_worker

    exit_without_teardown()
    prepare_worker()


def run_direct(config, workers: int) -> dict[str, Any]:
    """(b): the flow's jobs and dependency structure, `Stage.run` in a bare spawn process pool."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait

    from bench import overhead as this
    from flows.pipeline import LAST_PER_WARC, PER_WARC, STAGE_NAMES, _accounting_problem, make_job
    from tasks.commoncrawl import list_warc_paths, resolve_crawl
    from tasks.dedup import CLUSTERS, DEDUP, SIGNATURES, plan_dedup
    from tasks.stage import with_sources
    from tasks.tokenize import TOKENIZE, tokenize_jobs
    from tasks.tokenizer import TOKENIZER, tokenizer_job
    from tasks.train import TRAIN, train_job

    storage = config.storage
    fetch = config.download.fetch
    crawl = resolve_crawl(config.crawl, fetch)
    paths = config.download.selection.apply(list_warc_paths(config.crawl, crawl, fetch))
    workers_seen: set[int] = set()

    def result(future):
        ref, pid = future.result()
        if pid != os.getpid():  # downloads run on this process's threads
            workers_seen.add(pid)
        if ref.reused:
            raise SystemExit(f"(b) found {ref.stage} {ref.key} already committed: the root was not fresh")
        return ref

    # The same set-up as fineflow's pool workers (bar the API client): the ratio is Prefect's.
    # Downloads on threads of this process, as the flow runs them (flows/runners.py
    # download_runner_for).
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_bare_worker) as pool, \
            ThreadPoolExecutor(config.download.concurrency) as downloads:
        def submit(stage, job):
            if stage.name == "download":
                return downloads.submit(_run_stage, stage, job)
            return pool.submit(this._run_stage, stage, job)

        # per WARC: download -> extract -> filter, each file moving on as soon as its own step is done
        shards: dict[str, dict[str, Any]] = {path: {} for path in paths}
        pending = {submit(PER_WARC[0][1], make_job(PER_WARC[0][0], config, crawl, path)): (path, 0)
                   for path in paths}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                path, i = pending.pop(future)
                ref = shards[path][PER_WARC[i][0]] = result(future)
                if i < LAST_PER_WARC:
                    name, stage, _ = PER_WARC[i + 1]
                    pending[submit(stage, with_sources(make_job(name, config, crawl, path), [ref]))] = (path, i + 1)
        for path, refs in shards.items():
            problem = _accounting_problem(refs, STAGE_NAMES[:LAST_PER_WARC + 1], path.rsplit("/", 1)[-1])
            if problem:
                raise SystemExit(f"(b) direct: {problem}")

        # run-wide stages, as flows/pipeline.py `_run_wide` and tasks/dedup.py `submit_dedup` chain them
        documents = {path: refs["filter"] for path, refs in shards.items()}
        if config.dedup.enabled:
            plan = plan_dedup(storage, config.dedup, list(documents.values()))
            signatures = {shard: submit(SIGNATURES, with_sources(job, [documents[shard]]))
                          for shard, job in plan.signatures.items()}
            dedup = {}
            for group, members in plan.groups.items():
                clusters = result(submit(CLUSTERS, with_sources(plan.clusters[group],
                                                                [result(signatures[s]) for s in members])))
                for shard in members:
                    dedup[shard] = submit(DEDUP, with_sources(plan.dedup[shard], [documents[shard], clusters]))
            documents = {shard: result(future) for shard, future in dedup.items()}
        doc_refs = [documents[path] for path in sorted(documents)]
        tokenizer = result(submit(TOKENIZER, tokenizer_job(storage, doc_refs, config.tokenizer)))
        futures = [submit(TOKENIZE, job) for job in tokenize_jobs(storage, doc_refs, tokenizer, config.tokenize)]
        tokens = [result(future) for future in futures]
        train = result(submit(TRAIN, train_job(storage, tokens, tokenizer, config.model, config.train)))
    return {"train": train, "workers": len(workers_seen)}


def run_command(root: Path, overrides: dict[str, Any], env: dict[str, str], log: Path) -> str:
    """(d) and (e): `fineflow demo --storage ROOT` in a fresh process."""
    script = Path(sys.executable).with_name("fineflow")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]
    argv += ["demo", "--storage", str(root)]
    for name, value in overrides.items():
        argv += ["--set", f"{name}={value}"]
    out = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
    log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"`{' '.join(argv)}` failed ({out.returncode}): {(out.stdout + out.stderr)[-3000:]}")
    return out.stdout


# what a root holds


def committed(root: Path) -> dict[tuple[str, str], Any]:
    """(stage, key) -> manifest of every committed output under `root`."""
    from storage import Store

    store = Store(str(root))
    found = {}
    for stage in store.stages():
        for output in store.outputs(stage):
            manifest = output.committed()
            if manifest is not None:
                found[(stage, output.key)] = manifest
    return found


def check_same(a_root: Path, b_root: Path) -> str:
    """The deterministic outputs of (a) and (b) are the same (keys and digests); train: key and steps."""
    a, b = committed(a_root), committed(b_root)
    problems = []
    for name, found in (("(a)", a), ("(b)", b)):
        stages = {stage for stage, _ in found}
        missing = [s for s in STAGE_ORDER if s not in stages]
        if missing:
            problems.append(f"{name} has no committed output for {', '.join(missing)}")
    det_a = {k: m.digest for k, m in a.items() if k[0] in DETERMINISTIC}
    det_b = {k: m.digest for k, m in b.items() if k[0] in DETERMINISTIC}
    for k in sorted(det_a.keys() | det_b.keys()):
        if det_a.get(k) != det_b.get(k):
            problems.append(f"{k[0]}/{k[1]}: (a) {det_a.get(k, 'missing')}, (b) {det_b.get(k, 'missing')}")
    train_a = {k[1]: m.counts.get("steps") for k, m in a.items() if k[0] == "train"}
    train_b = {k[1]: m.counts.get("steps") for k, m in b.items() if k[0] == "train"}
    if train_a != train_b:
        problems.append(f"train (key: steps): (a) {train_a}, (b) {train_b}")
    if problems:
        raise SystemExit("(a) and (b) disagree:\n  " + "\n  ".join(problems))
    steps = next(iter(train_a.values()))
    return (f"(a) and (b) agree: {len(det_a)} deterministic outputs with the same keys and digests "
            f"({', '.join(f'{s} {sum(k[0] == s for k in det_a)}' for s in DETERMINISTIC)}); "
            f"train: same key, {steps} steps each")


# where the time goes


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def timeline(root: Path, t0: float) -> dict[str, dict[str, float]]:
    """Per stage, from the manifests: outputs, summed work seconds, first start and last finish
    (seconds after t0), and the mean hand-off: start minus the finish of its latest input."""
    manifests = list(committed(root).values())
    finished = {m.digest: _ts(m.finished_at) for m in manifests}
    rows: dict[str, dict[str, float]] = {}
    for m in manifests:
        row = rows.setdefault(m.stage, {"n": 0, "work": 0.0, "first": float("inf"), "last": 0.0, "handoff": 0.0,
                                        "handoffs": 0})
        start, end = _ts(m.started_at) - t0, _ts(m.finished_at) - t0
        row["n"] += 1
        row["work"] += m.duration_s
        row["first"] = min(row["first"], start)
        row["last"] = max(row["last"], end)
        upstream = [finished[d] for d in m.inputs if d in finished]
        row["handoff"] += start - ((max(upstream) - t0) if upstream else 0.0)
        row["handoffs"] += 1
    for row in rows.values():
        row["handoff"] /= max(row["handoffs"], 1)
    return rows


def task_runs(flow_run_id, root: Path, t0: float, wait_s: float = 30.0) -> dict[str, Any]:
    """A flow run's task runs as the server recorded them (from events, so possibly late, and
    written in batches every FLUSH_INTERVAL_S: waits for every one to be final and for the list
    to stay the same over a flush), matched to their manifests by stage and label.

    Per stage, means per task: pre = Pending -> Running (task engine set-up, tag concurrency
    slots, cache lookup), wrap = Running -> final minus the stage's own work."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.server import FLUSH_INTERVAL_S

    manifests = {(m.stage, (m.shard or "").rsplit("/", 1)[-1]): m for m in committed(root).values()}
    deadline = time.monotonic() + wait_s
    seen: list[tuple[str, str]] | None = None
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            now = sorted((str(r.id), r.state.name if r.state else "") for r in runs)
            final = all(r.state is not None and r.state.is_final() for r in runs)
            if (final and now == seen) or time.monotonic() > deadline:
                break
            seen = now
            time.sleep(FLUSH_INTERVAL_S + 0.5)
        flow_run = client.read_flow_run(flow_run_id)
        stages: dict[str, dict[str, float]] = {}
        spans: list[float] = []
        for run in runs:
            states = sorted(client.read_task_run_states(run.id), key=lambda s: s.timestamp)
            stage, _, label = run.name.partition(" ")
            if stage not in STAGE_ORDER:  # the crawl listing, run in the flow's process: "list-warc-paths-3c1"
                stage = stage.rsplit("-", 1)[0]
            pending = next((s.timestamp for s in states if s.type.value == "PENDING"), None)
            running = next((s.timestamp for s in states if s.type.value == "RUNNING"), None)
            final = next((s.timestamp for s in states if s.is_final()), None)
            row = stages.setdefault(stage, {"n": 0, "pre": 0.0, "wrap": 0.0, "complete": 0})
            row["n"] += 1
            if pending and running and final:
                manifest = manifests.get((stage, label))
                work = manifest.duration_s if manifest and states[-1].name != "Cached" else 0.0
                row["pre"] += (running - pending).total_seconds()
                row["wrap"] += (final - running).total_seconds() - work
                row["complete"] += 1
                spans.append((final - pending).total_seconds())
    for row in stages.values():
        if row["complete"]:
            row["pre"] /= row["complete"]
            row["wrap"] /= row["complete"]
    return {"stages": stages, "runs": len(runs), "spans": spans,
            "flow_start": _ts(flow_run.start_time) - t0 if flow_run.start_time else float("nan"),
            "flow_end": _ts(flow_run.end_time) - t0 if flow_run.end_time else float("nan")}


def results_size(root: Path) -> tuple[int, int]:
    folder = root / "_prefect" / "results"
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def endpoints(m: Measurement, status: int | None = None, n: int | None = None) -> str:
    """The endpoints of `m`'s requests (those answered `status`, if given), most called first."""
    totals: Counter[str] = Counter()
    for (method, path, answered), count in m.requests.items():
        if status is None or answered == status:
            totals[f"{method} {path}"] += count
    return ", ".join(f"{what} x{k}" for what, k in totals.most_common(n)) or "none"


def print_breakdown(a: Measurement, b: Measurement, c: Measurement) -> None:
    ta, tb = a.timeline, b.timeline
    api = ta["_api"]["stages"]
    print("\nwhere the time goes, last round. Per stage: outputs, summed work seconds (the manifests' "
          "duration), first start\nand last finish (seconds after the run's start), mean hand-off (a start "
          "minus the finish of its latest input;\nfor download, minus the run's start); for (a) also the "
          "task runs' mean Pending->Running and the rest of\nRunning->final beyond the work, as the server "
          "recorded them.")
    print(f"{'stage':<17}{'n':>3} |{'(a) work':>9}{'first':>7}{'last':>7}{'hand-off':>9} |"
          f"{'(b) work':>9}{'first':>7}{'last':>7}{'hand-off':>9} |{'(a) pre':>8}{'wrap':>7}")
    for stage in STAGE_ORDER:
        ra, rb = ta.get(stage), tb.get(stage)
        if ra is None or rb is None:
            continue
        extra = api.get(stage)
        if extra and extra["complete"]:
            extra_text = f"{extra['pre']:>8.2f}{extra['wrap']:>7.2f}"
        else:
            extra_text = f"{'-':>8}{'-':>7}"
        print(f"{stage:<17}{ra['n']:>3} |{ra['work']:>9.1f}{ra['first']:>7.1f}{ra['last']:>7.1f}{ra['handoff']:>9.2f} |"
              f"{rb['work']:>9.1f}{rb['first']:>7.1f}{rb['last']:>7.1f}{rb['handoff']:>9.2f} |{extra_text}")
    work_a = sum(r["work"] for k, r in ta.items() if k in STAGE_ORDER)
    work_b = sum(r["work"] for k, r in tb.items() if k in STAGE_ORDER)
    end_a = max(r["last"] for k, r in ta.items() if k in STAGE_ORDER)
    end_b = max(r["last"] for k, r in tb.items() if k in STAGE_ORDER)
    print(f"{'sum of work':<21}|{work_a:>9.1f}{'':>23} |{work_b:>9.1f}")
    runs = ta["_api"]
    print(f"last output committed at {end_a:.1f} s in (a), {end_b:.1f} s in (b); the runs returned at "
          f"{a.wall_s:.1f} s and {b.wall_s:.1f} s")
    print(f"(a): flow run Running at {runs['flow_start']:.2f} s, final at {runs['flow_end']:.2f} s, then "
          f"{a.wall_s - runs['flow_end']:.1f} s to return (the process pool shutting down); {runs['runs']} task runs")
    print(f"(a): {a.calls} API requests, {a.busy} answered 503 (SQLite busy; the client retries after ~2 s): "
          f"{endpoints(a, status=503)}")
    print(f"(a): the most frequent: {endpoints(a, n=8)}")
    files, size = ta["_results"]
    print(f"(a): {files} task results persisted ({size / 1024:.0f} KiB) under _prefect/results")
    cr = c.timeline.get("_api")
    if cr:
        spans = sorted(cr["spans"])
        mean = sum(spans) / len(spans) if spans else float("nan")
        print(f"(c): flow run Running at {cr['flow_start']:.2f} s, final at {cr['flow_end']:.2f} s, returned at "
              f"{c.wall_s:.1f} s; {cr['runs']} task runs, Pending->final mean {mean:.2f} s, max "
              f"{spans[-1] if spans else float('nan'):.2f} s; {c.calls} API requests, {c.busy} answered 503: "
              f"{endpoints(c, status=503)}")
    print(f"CPU seconds, (a) against (b): this process {a.main_cpu_s:.1f} / {b.main_cpu_s:.1f}, pool workers "
          f"{a.children_cpu_s:.1f} / {b.children_cpu_s:.1f}, server {a.server_cpu_s:.1f} / {b.server_cpu_s:.1f}")
    # The floor: on a machine whose cores the work already fills, CPU that Prefect spends
    # anywhere (server included) comes out of the work's time, whatever the client does.
    cores = os.cpu_count() or 1
    server = a.server_cpu_s - b.server_cpu_s
    extra = (a.main_cpu_s - b.main_cpu_s) + (a.children_cpu_s - b.children_cpu_s) + server
    print(f"Prefect's extra CPU in (a): {extra:.1f} CPU-s (server {server:.1f}, pool workers "
          f"{a.children_cpu_s - b.children_cpu_s:.1f}, this process {a.main_cpu_s - b.main_cpu_s:.1f}); spread over "
          f"{cores} cores, {extra / cores:.1f} s = {100 * extra / cores / b.wall_s:.0f}% of (b), the server's share "
          f"alone {100 * server / cores / b.wall_s:.0f}%; the 5% target allows {0.05 * b.wall_s:.1f} s in all")


# the report


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help=f"processes in both pools, runner.workers (default: the cores, {os.cpu_count()})")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="train.steps (default: the demo's own, 200); fewer for a quick look")
    parser.add_argument("--copies", type=int, default=1,
                        help="a crawl of N copies of each sample WARC file, 3 * N files (default 1: the sample "
                             "crawl itself)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of (a) and (b), their order alternating; medians reported (default 1)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed rounds of (a) and (b) first (default 1): the first runs on a fresh "
                             "server and machine pay one-time costs (the server's first requests, cold file "
                             "caches) that are not Prefect's per-run overhead; their times are printed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary storage roots and server home")
    parser.add_argument("--ephemeral", action="store_true",
                        help="also (e): the cached rerun command without PREFECT_API_URL (a temporary server)")
    parser.add_argument("--logs", action="store_true", help="show Prefect's console logs (default: warnings only)")
    args = parser.parse_args()
    if args.copies < 1:
        parser.error("--copies must be at least 1")

    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-overhead-"))
    home = tmp / "prefect-home"
    home.mkdir()
    overrides: dict[str, Any] = {"runner.workers": args.workers}
    if args.train_steps is not None:
        overrides["train.steps"] = args.train_steps
    if args.copies > 1:
        crawl_root, n_warcs = build_crawl(tmp / "crawl", args.copies)
        overrides["crawl.data_url"] = crawl_root.as_uri()
        overrides["crawl.index_url"] = (crawl_root / "collinfo.json").as_uri()
        crawl_text = f"the sample crawl x{args.copies} ({n_warcs} WARC files, built in {crawl_root})"
    else:
        n_warcs = len(list(SAMPLE_CRAWL.glob("crawl-data/*/segments/*/warc/*.warc.gz")))
        crawl_text = f"the sample crawl ({n_warcs} WARC files)"
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in load_start)} ({os.cpu_count()} cores, shared); "
          f"workers {args.workers}; copies {args.copies}: {crawl_text}; temporary folder {tmp}", flush=True)
    server = start_server(home)
    print(f"Prefect server (`prefect server start`, 127.0.0.1, SQLite) ready in {server.startup_s:.1f} s, "
          f"not counted below: {server.api}", flush=True)
    # Before Prefect is first imported: this process, its pool workers and the command in (d)
    # all report to that server. Task-run logs still go to it at INFO; the console shows warnings.
    os.environ.update({"PREFECT_API_URL": server.api, "PREFECT_HOME": str(home),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    if not args.logs:
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
    runs: dict[str, list[Measurement]] = {k: [] for k in "abcde"}
    try:
        started = time.perf_counter()
        from flows.cli import demo_config  # imports flows.pipeline and every stage: before any clock

        print(f"imports in this process: {time.perf_counter() - started:.1f} s (not counted)", flush=True)
        agree = ""
        for w in range(args.warmup):
            config = demo_config(str(tmp / f"warmup-prefect-{w + 1}"), overrides)
            warm_a, _ = measure(server, lambda: run_prefect(config))
            config = demo_config(str(tmp / f"warmup-direct-{w + 1}"), overrides)
            warm_b, _ = measure(server, lambda: run_direct(config, args.workers))
            print(f"  warm-up {w + 1} (not counted): (a) {warm_a.wall_s:.1f} s, (b) {warm_b.wall_s:.1f} s", flush=True)
        for r in range(args.repeat):
            order = "ab" if r % 2 == 0 else "ba"
            for side in order:
                root = tmp / f"{'prefect' if side == 'a' else 'direct'}-{r + 1}"
                config = demo_config(str(root), overrides)
                if side == "a":
                    m, (result, m.flow_run_id) = measure(server, lambda: run_prefect(config))
                    reused = [ref.reused for refs in result.shards.values() for ref in refs.values()] + \
                             [ref.reused for ref in result.run.values()]
                    if any(reused):
                        raise SystemExit(f"(a) reused {sum(reused)} outputs: the root {root} was not fresh")
                else:
                    m, out = measure(server, lambda: run_direct(config, args.workers))
                    m.note = f"{out['workers']} worker processes ran stages"
                m.root = root
                runs[side].append(m)
                print(f"  round {r + 1}: ({side}) {m.wall_s:.1f} s", flush=True)
            a_root = runs["a"][-1].root
            agree = check_same(a_root, runs["b"][-1].root)
            config = demo_config(str(a_root), overrides)
            m, (result, m.flow_run_id) = measure(server, lambda: run_prefect(config))
            refs = [ref for refs in result.shards.values() for ref in refs.values()] + list(result.run.values())
            if not all(ref.reused for ref in refs):
                raise SystemExit(f"(c) recomputed {sum(not ref.reused for ref in refs)} of {len(refs)} outputs")
            m.root = a_root
            runs["c"].append(m)
            print(f"  round {r + 1}: (c) {m.wall_s:.1f} s ({len(refs)} outputs, all cached)", flush=True)
            m, stdout = measure(server, lambda: run_command(a_root, overrides, dict(os.environ),
                                                            tmp / f"demo-{r + 1}.log"))
            if not any(line.strip().startswith("train") and "already in storage" in line
                       for line in stdout.splitlines()):
                raise SystemExit(f"(d) did not find the outputs in storage: {stdout[-2000:]}")
            runs["d"].append(m)
            print(f"  round {r + 1}: (d) {m.wall_s:.1f} s", flush=True)
            if args.ephemeral:
                env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
                env["PREFECT_HOME"] = str(tmp / "prefect-home-ephemeral")
                if r == 0:  # untimed: creates its database, as on a machine where a demo ran before
                    run_command(a_root, overrides, env, tmp / "demo-eph-0.log")
                m, _ = measure(server, lambda: run_command(a_root, overrides, env, tmp / f"demo-eph-{r + 1}.log"))
                runs["e"].append(m)
                print(f"  round {r + 1}: (e) {m.wall_s:.1f} s", flush=True)

        a, b, c = runs["a"][-1], runs["b"][-1], runs["c"][-1]
        a.timeline = timeline(a.root, a.t0)
        b.timeline = timeline(b.root, b.t0)
        a.timeline["_api"] = task_runs(a.flow_run_id, a.root, a.t0)
        a.timeline["_results"] = results_size(a.root)
        c.timeline["_api"] = task_runs(c.flow_run_id, c.root, c.t0)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = os.getloadavg()

    steps = args.train_steps if args.train_steps is not None else "200 (the demo's)"
    names = {"a": "(a) fineflow via Prefect (process pool)", "b": "(b) direct: Stage.run in a process pool",
             "c": "(c) all-cached rerun, in-process", "d": "(d) all-cached rerun, `fineflow demo`",
             "e": "(e) (d) without PREFECT_API_URL"}
    print(f"\nthe demo pipeline on the sample crawl x{args.copies} (--copies; {n_warcs} WARC files): train.steps "
          f"{steps}, {args.workers} workers, {args.repeat} round(s), (a) first in odd rounds and (b) first in even "
          f"ones, after {args.warmup} untimed warm-up round(s);\nPrefect server start-up ({server.startup_s:.1f} s) not counted")
    rounds = "".join(f"{f'round {i + 1}':>9}" for i in range(args.repeat))
    print(f"{'wall seconds':<40}{rounds}{'median':>9} | {'CPU s: main':>11}{'pool':>6}{'server':>7} | "
          f"{'API calls':>9}{'503s':>5}")
    for k in "abcde":
        if not runs[k]:
            continue
        ms = runs[k]
        cells = "".join(f"{m.wall_s:>9.1f}" for m in ms)
        main_cpu = median([m.main_cpu_s for m in ms])
        pool = median([m.children_cpu_s for m in ms])
        srv = median([m.server_cpu_s for m in ms])
        if k == "e":  # its own temporary server: nothing in ours
            calls = f"{'-':>9}{'-':>5}"
        else:
            busy = f"{median([m.busy for m in ms]):>5.0f}" if k != "b" else ""
            calls = f"{median([m.calls for m in ms]):>9.0f}{busy}"
        print(f"{names[k]:<40}{cells}{median([m.wall_s for m in ms]):>9.1f} | {main_cpu:>11.1f}{pool:>6.1f}"
              f"{srv:>7.1f} | {calls}")
    print("CPU s (medians): main = this process; pool = its pool workers (for (d), (e): the command's whole "
          "process tree);\nserver = the Prefect server's process tree over the same interval. API calls: "
          "requests in the server's access log\nover the same interval; 503s: answered 'Service Unavailable' "
          "(SQLite busy), each retried by the client after ~2 s.")
    wa, wb = [m.wall_s for m in runs["a"]], [m.wall_s for m in runs["b"]]
    ma, mb = median(wa), median(wb)
    ratios = [x / y for x, y in zip(wa, wb)]
    over = 100 * (ma / mb - 1)
    print(f"\nratio (a)/(b): {ma / mb:.3f} (of the medians; per round: {', '.join(f'{x:.3f}' for x in ratios)})")
    print(f"Prefect overhead: {over:+.1f}% ({ma - mb:+.1f} s)   target: under 5% on the demo -> "
          f"{'met' if over < 5 else 'NOT met'}")
    md = median([m.wall_s for m in runs["d"]])
    print(f"all-cached rerun: {md:.1f} s as `fineflow demo` ((c), in-process: "
          f"{median([m.wall_s for m in runs['c']]):.1f} s)   target: under 15 s -> {'met' if md < 15 else 'NOT met'}")
    print(agree)
    print(f"(b): {b.note}")
    print_breakdown(a, b, c)
    print(f"\nload average at start: {', '.join(f'{x:.2f}' for x in load_start)}; at end: "
          f"{', '.join(f'{x:.2f}' for x in load_end)} ({os.cpu_count()} cores, shared machine)")
    if args.keep:
        print(f"kept: {tmp} (storage roots prefect-N, direct-N; with --copies, the crawl in crawl; Prefect home, "
              f"its prefect.db and server.log in prefect-home; demo-N.log)")


if __name__ == "__main__":
    main()
