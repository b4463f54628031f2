"""The extractor's sandbox, in a module of its own: the sandbox's child unpickles this class,
so whatever this module imports, every child imports again (tasks.extract would bring
Prefect along, a second or more per child)."""

from __future__ import annotations

import multiprocessing

from datatrove.pipeline.extractors.base import ExtractorSandbox

# Imported once by the fork server, so a child starts with them already loaded.
PRELOAD = ["trafilatura", "lxml.html", "datatrove.pipeline.extractors", __name__]


class ForkServerSandbox(ExtractorSandbox):
    """datatrove's ExtractorSandbox (a child process, killed and replaced past the time
    limit), with its child made by a fork server with trafilatura already imported.

    The default start method is wrong both ways here: inside Prefect's process workers it
    is spawn, so each child re-imports trafilatura for seconds, longer than the limit it
    is started under; and forking a worker copies Prefect's running threads and locks.
    """

    def __init__(self, timeout_s: float, startup_timeout_s: float = 120.0) -> None:
        # A real page as warm-up: the empty default makes trafilatura log parse errors.
        super().__init__(timeout=timeout_s, warmup_text="<html><body><p>Warming up the extractor.</p></body></html>")
        self.startup_timeout_s = startup_timeout_s

    def __getstate__(self) -> dict:
        # The child gets this object pickled (its loop is a method): only what the loop
        # reads travels, not the parent's processes and pipes.
        return {"timeout": self.timeout, "warmup_text": self.warmup_text, "process": None,
                "parent_conn": None, "child_conn": None, "all_processes": []}

    def _ensure_process(self, extract_fn) -> None:
        if self.process is not None and self.process.is_alive():
            return
        self._cleanup_process()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        parent, child = context.Pipe()
        process = context.Process(target=self._worker, args=(child, extract_fn), daemon=True)
        process.start()
        self.process, self.parent_conn, self.child_conn = process, parent, child
        self.all_processes.append(process)
        if not parent.poll(self.startup_timeout_s):
            self._cleanup_process()
            raise TimeoutError(f"the extractor process did not start within {self.startup_timeout_s:.0f} s")
        parent.recv()
