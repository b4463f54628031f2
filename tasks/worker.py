"""What a process that runs stages does once, before its first stage."""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import os
import sys
from typing import NoReturn

STAGE_MODULES = ("tasks.download", "tasks.extract", "tasks.filter", "tasks.dedup", "tasks.tokenizer",
                 "tasks.tokenize", "tasks.train")


def prepare_worker() -> None:
    """Import every stage's module, then move all that is alive into the collector's
    permanent generation.

    A worker's modules (Prefect, pydantic, datatrove, the stages: about 140k objects) live
    as long as the process, yet every full collection walks them again: in the demo each
    pool worker ran 5-6 full collections of 0.4-0.6 s, and one more at exit, which the
    pool's shutdown waits for. Frozen, they are skipped; what the stages allocate is
    collected as before. Heavy libraries a stage imports lazily (torch, trafilatura) stay
    out, so a worker that never trains never loads torch.
    """
    for name in STAGE_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def exit_without_teardown() -> None:
    """End this process with `os._exit` once its exit handlers have run, skipping the
    interpreter's teardown. Call it first thing in a pool worker: handlers run last-in
    first-out, so this one runs after every handler registered later.

    The teardown frees every module and object one by one, and torch's with them: 0.5-1 s
    in a worker that trained, which the pool's shutdown, and so the flow run's end, waits
    for. Nothing it does matters here. Results went back to the parent as each task
    finished, outputs are committed by then, multiprocessing has run its finalizers, and
    Prefect's event and log senders drain at thread shutdown, before any exit handler.
    Handlers registered before this one, by the imports that unpickle the initializer,
    are skipped: logging's (called here instead), multiprocessing's (already run),
    pyarrow's S3 and loguru's clean-ups (nothing a worker leaves open). The exit status
    is 0: a pool worker's is never read.
    """
    atexit.register(exit_now)


def exit_now(code: int = 0) -> NoReturn:
    """End this process now with `code`: logging's handlers and the standard streams are
    flushed, and nothing else runs (no exit handlers, no teardown)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced: nothing to lose
            pass
    os._exit(code)
