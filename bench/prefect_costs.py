"""What Prefect charges per operation: a task run, a link artifact, a progress update.

    python -m bench.prefect_costs [--n 60] [--repeat 2] [--settle 3]

`bench.overhead` finds Prefect's overhead on the demo spread over many small costs; this
prices the ones the demo pays per task. Against two real `prefect server start`s on
127.0.0.1 in turn (started as bench.overhead starts them, not timed): one configured as
fineflow configures its servers (flows/server.py: task runs and events written in batches),
then one with Prefect's default service settings, the baseline; flows run in this process,
each of `--n` tasks doing one thing:

  empty     the flow alone, no task: the baseline every other row is measured against
  tasks     a task run that does nothing (its Pending, Running and Completed events)
  links     a task run that creates one link artifact (as every fineflow stage task did, until
            the cost measured here moved the links into the flow's one `pipeline-outputs`)
  progress  a task run that creates a progress artifact and updates it 5 times

Each flow is followed by `--settle` seconds in the measured window, for the server's
services to write the events out; the empty flow has the same. Per row: the server's CPU
seconds (its whole process tree), this process's CPU seconds and the wall time, minus the
empty flow's, divided by the operations: per task run for `tasks`, per artifact call for
`links` and `progress` (their no-op task runs taken off too). Medians of `--repeat` rounds,
side by side for the two servers, with the ratio of the server's CPU.
On a machine whose cores the work fills, the server's and the client's CPU both come out of
the work's time: multiply by the demo's counts (bench.overhead prints them) for its floor.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.overhead import Server, start_server

KINDS = ("empty", "tasks", "links", "progress")
PROGRESS_UPDATES = 5


def measure(server: Server, run, settle_s: float) -> tuple[float, float, float]:
    """(server CPU s, this process's CPU s, wall s) of `run()` plus the settling time."""
    server_cpu, cpu, started = server.cpu_s(), time.process_time(), time.perf_counter()
    run()
    time.sleep(settle_s)
    return server.cpu_s() - server_cpu, time.process_time() - cpu, time.perf_counter() - started - settle_s


def cost_flow(n: int):
    from prefect import flow, task
    from prefect.artifacts import create_link_artifact, create_progress_artifact, update_progress_artifact

    @task
    def nothing(i: int) -> int:
        return i

    @task
    def link(i: int) -> None:
        create_link_artifact(link=f"file:///tmp/output/{i}", link_text=f"output {i}")

    @task
    def progress(i: int) -> None:
        artifact = create_progress_artifact(progress=0.0)
        for k in range(1, PROGRESS_UPDATES + 1):
            update_progress_artifact(artifact, progress=100.0 * k / PROGRESS_UPDATES)

    body = {"empty": None, "tasks": nothing, "links": link, "progress": progress}

    @flow(name="prefect-costs")
    def costs(kind: str) -> None:
        if body[kind] is not None:
            for i in range(n):
                body[kind](i)

    return costs


def run_rounds(server: Server, args: argparse.Namespace) -> dict[str, tuple[float, ...]]:
    """Every kind of flow `args.repeat` times against `server` (PREFECT_API_URL): medians per kind."""
    from flows.config import RunnerSettings
    from flows.runners import flow_run_settings

    results: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in KINDS}
    costs = cost_flow(args.n)
    # As the demo runs: without heartbeats, whose sender the engine waits up to 1 s for
    # at the end of every flow run.
    with flow_run_settings(RunnerSettings(heartbeats=False)):
        measure(server, lambda: costs("tasks"), args.settle)  # untimed: the first calls of server and engine
        for r in range(args.repeat):
            for kind in KINDS:
                results[kind].append(measure(server, lambda: costs(kind), args.settle))
                print(f"  round {r + 1}: {kind}", file=sys.stderr, flush=True)
    return {kind: tuple(statistics.median(m[i] for m in results[kind]) for i in range(3)) for kind in KINDS}


def per_operation(med: dict[str, tuple[float, ...]], n: int) -> dict[str, tuple[float, ...]]:
    """Milliseconds (server CPU, client CPU, wall) per operation, the empty flow taken off."""
    def per(kind: str, minus: str, ops: int) -> tuple[float, ...]:
        return tuple(1000 * (a - b) / ops for a, b in zip(med[kind], med[minus]))

    tasks = per("tasks", "empty", n)
    links = tuple(x - y for x, y in zip(per("links", "empty", n), tasks))
    progress = tuple(x - y / (PROGRESS_UPDATES + 1)
                     for x, y in zip(per("progress", "empty", n * (PROGRESS_UPDATES + 1)), tasks))
    return {"a task run (in-process, no work)": tasks, "a link artifact": links,
            "a progress artifact call (create or update)": progress}


SERVERS = {"fineflow": "fineflow's", "prefect": "Prefect's default"}


def measure_one(services: str, args: argparse.Namespace) -> dict[str, tuple[float, ...]]:
    """Start a server with `services` settings, run the rounds against it, stop it."""
    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-costs-"))
    os.environ.update({"PREFECT_HOME": str(tmp), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"})
    try:
        server = start_server(tmp, services=services == "fineflow")
        print(f"Prefect server with {SERVERS[services]} service settings on {server.api}, ready in "
              f"{server.startup_s:.1f} s (not counted)", file=sys.stderr, flush=True)
        os.environ["PREFECT_API_URL"] = server.api  # before Prefect is first imported, in run_rounds
        try:
            return run_rounds(server, args)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="tasks per flow (default 60)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every flow; medians reported (default 2)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after each flow counted with it, for the server's services (default 3)")
    parser.add_argument("--only", choices=sorted(SERVERS), help=argparse.SUPPRESS)  # one server, as JSON
    args = parser.parse_args()
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be at least 1")
    if args.only:
        print(json.dumps(measure_one(args.only, args)))
        return

    # Each server in a process of its own: Prefect's event sender is one per process, and
    # stays connected to the first server it met.
    medians: dict[str, dict[str, tuple[float, ...]]] = {}
    for services in SERVERS:
        done = subprocess.run([sys.executable, "-m", "bench.prefect_costs", "--only", services, "--n", str(args.n),
                               "--repeat", str(args.repeat), "--settle", str(args.settle)],
                              stdout=subprocess.PIPE, text=True, check=True)
        # The last JSON line: anything Prefect logs to stdout on the way out comes before or after it.
        medians[services] = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])

    ours, stock = (per_operation(medians[services], args.n) for services in SERVERS)
    empty = medians["fineflow"]["empty"]
    print(f"\n{args.n} tasks a flow, medians of {args.repeat} round(s), against the empty flow "
          f"(server {empty[0]:.2f} CPU-s, client {empty[1]:.2f} CPU-s, wall {empty[2]:.2f} s; fineflow's server)")
    print("milliseconds per operation: fineflow's server (flows/server.py) / one with Prefect's default service "
          "settings; ratio of the server's CPU")
    print(f"{'':<44}{'server CPU':>14}{'client CPU':>14}{'wall':>14}{'ratio':>7}")
    for name in ours:
        cells = "".join(f"{f'{a:.1f} / {b:.1f}':>14}" for a, b in zip(ours[name], stock[name]))
        ratio = ours[name][0] / stock[name][0] if stock[name][0] > 0 else float("nan")
        print(f"{name:<44}{cells}{ratio:>7.2f}")


if __name__ == "__main__":
    main()
