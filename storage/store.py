"""The object store: one root URL over fsspec, for local folders, S3 and memory alike."""

from __future__ import annotations

import json
import os
import posixpath
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import fsspec

from storage.config import StorageConfig

if TYPE_CHECKING:
    from storage.output import StageOutput


class StorageError(RuntimeError):
    """Storage is unreachable, or holds something other than what a reader expects."""


def _clean_relative(rel: str) -> str:
    """A path below the root; anything that could climb out of it is refused."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError(f"path {rel!r} escapes the storage root")
    return "/".join(parts)


def modified_at(info: dict[str, Any]) -> float:
    """Modification time (epoch seconds) from an fsspec info dict of any backend."""
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return time.time()


class Store:
    """Files below one root. Paths given to methods are relative to the root."""

    def __init__(self, config: StorageConfig | str) -> None:
        self.config = config if isinstance(config, StorageConfig) else StorageConfig(root=config)
        protocol = self.config.protocol
        self.fs = fsspec.filesystem(protocol, **self.config.fsspec_options())
        root = self.config.root
        if protocol == "file":
            root = os.path.abspath(root.removeprefix("file://"))
        self._root = self.fs._strip_protocol(root).rstrip("/")
        self.local = protocol == "file"

    def __repr__(self) -> str:
        return f"Store({self.uri()!r})"

    # addresses
    def path(self, rel: str = "") -> str:
        rel = _clean_relative(rel)
        return f"{self._root}/{rel}" if rel else self._root

    def uri(self, rel: str = "") -> str:
        """The full address: a local path, or protocol://... for remote stores."""
        path = self.path(rel)
        return path if self.local else self.fs.unstrip_protocol(path)

    # reading and writing, streamed
    def open(self, rel: str, mode: str = "rb", **kwargs: Any) -> IO:
        kwargs.setdefault("block_size", self.config.block_size)
        return self.fs.open(self.path(rel), mode, **kwargs)

    def read_bytes(self, rel: str) -> bytes:
        """For small files only (manifests, plans); data files are streamed with open()."""
        return self.fs.cat_file(self.path(rel))

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Readers see the old content or the new one, never half of it.

        One PUT is atomic on S3 and in memory; a local file is written aside and renamed
        into place, which is atomic within a file system.
        """
        path = self.path(rel)
        if self.local:
            tmp = f"{path}.tmp-{uuid.uuid4().hex}"
            self.fs.pipe_file(tmp, data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def write_json(self, rel: str, value: Any) -> None:
        self.write_atomic(rel, json.dumps(value, indent=2, sort_keys=True, default=str).encode())

    # inspection and removal
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def info(self, rel: str) -> dict[str, Any]:
        return self.fs.info(self.path(rel))

    def size(self, rel: str) -> int:
        return int(self.info(rel)["size"])

    def listdir(self, rel: str = "", *, dirs_only: bool = False) -> list[str]:
        """Names directly below `rel`, sorted; empty when it does not exist."""
        path = self.path(rel)
        try:
            entries = self.fs.ls(path, detail=True, refresh=True) if not self.local else self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        names = [
            posixpath.basename(e["name"].rstrip("/"))
            for e in entries
            if not dirs_only or e.get("type") == "directory"
        ]
        return sorted(n for n in names if n)

    def walk_files(self, rel: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """(path relative to `rel`, info) of every file below `rel`."""
        base = self.path(rel)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        for path, info in sorted(found.items()):
            if info.get("type") == "file":
                yield path[len(base):].lstrip("/"), info

    def rm(self, rel: str, *, recursive: bool = False) -> None:
        path = self.path(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=recursive)
        if hasattr(self.fs, "invalidate_cache"):
            self.fs.invalidate_cache(path)

    # stage outputs
    def output(self, stage: str, key: str) -> "StageOutput":
        from storage.output import StageOutput

        return StageOutput(self, stage, key)

    def stages(self) -> list[str]:
        """Stage folders at the root (names starting with '_' are ours, not stages)."""
        return [n for n in self.listdir(dirs_only=True) if not n.startswith("_")]

    def outputs(self, stage: str) -> list["StageOutput"]:
        return [self.output(stage, key) for key in self.listdir(stage, dirs_only=True)]

    def clean_uncommitted(self, *, min_age_s: float = 3600.0, stage: str | None = None) -> list[str]:
        """Remove output folders without a valid manifest, left by killed or failed attempts.

        Only folders untouched for `min_age_s` go, so an attempt still writing is spared.
        Returns the folders removed.
        """
        from storage.output import OutputState

        removed = []
        now = time.time()
        for name in [stage] if stage else self.stages():
            for output in self.outputs(name):
                if output.state() == OutputState.COMMITTED:
                    continue
                newest = max((modified_at(i) for _, i in self.walk_files(output.dir)), default=0.0)
                if now - newest >= min_age_s:
                    self.rm(output.dir, recursive=True)
                    removed.append(output.dir)
        return removed
