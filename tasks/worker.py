"""What a process that runs stages does once, before its first stage."""

from __future__ import annotations

import gc
import importlib

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
