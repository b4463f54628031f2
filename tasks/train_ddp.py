"""The train stage under torchrun (DDP): every process runs this module with one job file.

    torchrun --nproc_per_node 8 -m tasks.train_ddp job.json                # one machine
    torchrun --nnodes 2 --node_rank 0 --rdzv_endpoint HOST:PORT ... -m tasks.train_ddp job.json

`job.json` is a `TrainJob` (`TrainJob.model_dump_json()`, with storage credentials if the
environment does not provide them). The main process runs the stage (`TRAIN.run`: resume,
train, commit); the others train alongside it and write nothing. With `--result`, used by
the task when `TrainSettings.processes > 1`, the main process does not commit: it writes
the list of files and the result there, for the task to adopt and commit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import NoReturn

import torch
import torch.distributed as dist

from storage import OutputWriter
from tasks.stage import StageContext
from tasks.train import TRAIN, TrainJob
from tasks.train_loop import World, run_training
from tasks.worker import exit_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.train_ddp", description=__doc__.split("\n\n")[0])
    parser.add_argument("job", help="a TrainJob as JSON")
    parser.add_argument("--result", help="write the main process's files and result here instead of committing")
    args = parser.parse_args(argv)

    # force: importing Prefect has already set up the root logger, at WARNING.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rank{} %(levelname)s %(message)s".format(
        os.environ.get("RANK", "0")), stream=sys.stderr, force=True)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        with open(args.job) as f:
            job = TrainJob.model_validate_json(f.read())
        world = World.current()
        output = TRAIN.output(job)
        logger = logging.getLogger("fineflow.train")
        if not world.main:
            logger.setLevel(logging.WARNING)
        ctx = StageContext(TRAIN.name, job.label, logger)
        if args.result:
            writer = OutputWriter(output) if world.main else None
            result = run_training(job, output, writer, ctx)
            if writer is not None:
                with open(args.result, "w") as f:
                    json.dump({"files": [e.path for e in writer.files], "counts": result.counts,
                               "extra": result.extra}, f, default=str)
            return 0
        if output.committed() is not None:
            if world.main:
                logger.info("train %s: already committed at %s", job.label, output.uri())
            return 0
        if world.main:
            ref = TRAIN.run(job, ctx)
            print(ref.model_dump_json())
        else:
            run_training(job, output, None, ctx)
        return 0
    finally:
        dist.destroy_process_group()


def run_and_exit(argv: list[str] | None = None) -> NoReturn:
    """`main`, then `exit_now`: skip the interpreter's teardown.

    `destroy_process_group` leaves gloo's threads running (torch 2.13), still there while
    the interpreter tears down, and now and then a process aborted in that teardown
    ("terminate called without an active exception", SIGABRT) after its work was done and
    its result written: once in CI, once in about 240 runs of a two-process script here.
    An exception is reported as the interpreter would have, with exit status 1.
    """
    code = 1
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
    exit_now(code)


if __name__ == "__main__":
    run_and_exit()
