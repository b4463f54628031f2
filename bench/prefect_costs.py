"""What Prefect charges per operation: a task run, a link artifact, a progress update.

    python -m bench.prefect_costs [--n 60] [--repeat 2] [--settle 3]

`bench.overhead` finds Prefect's overhead on the demo spread over many small costs; this
prices the ones the demo pays per task: against a real `prefect server start` on 127.0.0.1
(started as bench.overhead starts it, not timed), flows run in this process, each of `--n`
tasks doing one thing:

  empty     the flow alone, no task: the baseline every other row is measured against
  tasks     a task run that does nothing (its Pending, Running and Completed events)
  links     a task run that creates one link artifact (as every fineflow stage task does)
  progress  a task run that creates a progress artifact and updates it 5 times

Each flow is followed by `--settle` seconds in the measured window, for the server's
services to write the events out; the empty flow has the same. Per row: the server's CPU
seconds (its whole process tree), this process's CPU seconds and the wall time, minus the
empty flow's, divided by the operations: per task run for `tasks`, per artifact call for
`links` and `progress` (their no-op task runs taken off too). Medians of `--repeat` rounds.
On a machine whose cores the work fills, the server's and the client's CPU both come out of
the work's time: multiply by the demo's counts (bench.overhead prints them) for its floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="tasks per flow (default 60)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every flow; medians reported (default 2)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after each flow counted with it, for the server's services (default 3)")
    args = parser.parse_args()
    if args.n < 1 or args.repeat < 1:
        parser.error("--n and --repeat must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="ff-bench-costs-"))
    home = tmp / "prefect-home"
    home.mkdir()
    server = start_server(home)
    print(f"Prefect server on {server.api} ready in {server.startup_s:.1f} s (not counted)", flush=True)
    os.environ.update({"PREFECT_API_URL": server.api, "PREFECT_HOME": str(home),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"})
    results: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in KINDS}
    try:
        from flows.config import RunnerSettings
        from flows.runners import flow_run_settings

        costs = cost_flow(args.n)
        # As the demo runs: without heartbeats, whose sender the engine waits up to 1 s for
        # at the end of every flow run.
        with flow_run_settings(RunnerSettings(heartbeats=False)):
            measure(server, lambda: costs("tasks"), args.settle)  # untimed: the first calls of server and engine
            for r in range(args.repeat):
                for kind in KINDS:
                    results[kind].append(measure(server, lambda: costs(kind), args.settle))
                    print(f"  round {r + 1}: {kind}", flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {kind: tuple(statistics.median(m[i] for m in results[kind]) for i in range(3)) for kind in KINDS}

    def per(kind: str, minus: str, ops: int) -> tuple[float, ...]:
        return tuple(1000 * (a - b) / ops for a, b in zip(med[kind], med[minus]))

    tasks = per("tasks", "empty", args.n)
    links = tuple(x - y for x, y in zip(per("links", "empty", args.n), tasks))
    progress = tuple(x - y / (PROGRESS_UPDATES + 1)
                     for x, y in zip(per("progress", "empty", args.n * (PROGRESS_UPDATES + 1)), tasks))
    print(f"\n{args.n} tasks a flow, medians of {args.repeat} round(s), against the empty flow "
          f"(server {med['empty'][0]:.2f} CPU-s, client {med['empty'][1]:.2f} CPU-s, wall {med['empty'][2]:.2f} s)")
    print(f"{'milliseconds per operation':<44}{'server CPU':>11}{'client CPU':>11}{'wall':>8}")
    for name, row in (("a task run (in-process, no work)", tasks), ("a link artifact", links),
                      ("a progress artifact call (create or update)", progress)):
        print(f"{name:<44}{row[0]:>11.1f}{row[1]:>11.1f}{row[2]:>8.1f}")


if __name__ == "__main__":
    main()
