"""A stage output: files written first, the manifest last, and nothing visible before."""

from __future__ import annotations

import enum
import hashlib
import time
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from storage.manifest import FAILURE_NAME, MANIFEST_NAME, Failure, FileEntry, Manifest

if TYPE_CHECKING:
    from storage.store import Store


class OutputState(str, enum.Enum):
    COMMITTED = "committed"  # manifest present and every file it lists is there at its size
    FAILED = "failed"  # the last attempt failed and said why
    PARTIAL = "partial"  # files but no valid manifest: running, killed, or damaged
    MISSING = "missing"  # nothing at all


class StageOutput:
    """The folder `{stage}/{key}/` of one unit of work."""

    def __init__(self, store: Store, stage: str, key: str) -> None:
        self.store = store
        self.stage = stage
        self.key = key
        self.dir = f"{stage}/{key}"

    def __repr__(self) -> str:
        return f"StageOutput({self.store.uri(self.dir)!r})"

    def uri(self, name: str = "") -> str:
        return self.store.uri(f"{self.dir}/{name}" if name else self.dir)

    def read_manifest(self) -> Manifest | None:
        """The manifest, or None when it is missing or unreadable (a damaged manifest is
        no manifest: the output is recomputed, never trusted)."""
        try:
            return Manifest.model_validate_json(self.store.read_bytes(f"{self.dir}/{MANIFEST_NAME}"))
        except (FileNotFoundError, ValidationError, ValueError):
            return None

    def committed(self) -> Manifest | None:
        """The manifest if the output is complete: every listed file present at its size."""
        manifest = self.read_manifest()
        if manifest is None:
            return None
        present = {rel: int(info["size"]) for rel, info in self.store.walk_files(self.dir)}
        for entry in manifest.files:
            if present.get(entry.path) != entry.size:
                return None
        return manifest

    def read_failure(self) -> Failure | None:
        try:
            return Failure.model_validate_json(self.store.read_bytes(f"{self.dir}/{FAILURE_NAME}"))
        except (FileNotFoundError, ValidationError, ValueError):
            return None

    def state(self) -> OutputState:
        if self.committed() is not None:
            return OutputState.COMMITTED
        if self.read_failure() is not None:
            return OutputState.FAILED
        if any(True for _ in self.store.walk_files(self.dir)):
            return OutputState.PARTIAL
        return OutputState.MISSING

    def begin(self, keep: bool = False) -> OutputWriter:
        """Start an attempt. Whatever an earlier attempt left here is garbage and goes,
        unless `keep` (a resumable stage picks up its own checkpoints)."""
        if keep:
            self.store.rm(f"{self.dir}/{FAILURE_NAME}")
            self.store.rm(f"{self.dir}/{MANIFEST_NAME}")
        else:
            self.store.rm(self.dir, recursive=True)
        return OutputWriter(self)

    def open(self, name: str, mode: str = "rb") -> IO:
        return self.store.open(f"{self.dir}/{name}", mode)


class _HashingFile:
    """Write-only file that checksums and counts as it goes, so nothing is read back."""

    def __init__(self, raw: IO, on_close, on_discard) -> None:
        self._raw = raw
        self._on_discard = on_discard
        self._hash = hashlib.sha256()
        self._size = 0
        self._on_close = on_close

    def write(self, data: bytes) -> int:
        self._raw.write(data)
        self._hash.update(data)
        self._size += len(data)
        return len(data)

    @property
    def size(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._size

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        if not self._raw.closed:
            self._raw.close()
            self._on_close(self._size, self._hash.hexdigest())

    def discard(self) -> None:
        """Abandon the file: an S3 multipart upload is aborted rather than completed."""
        discard = getattr(self._raw, "discard", None)
        if discard is not None:
            try:
                discard()
            except RuntimeError:  # local files refuse in autocommit mode; they are removed below
                pass
        if not self._raw.closed:
            try:
                self._raw.close()
            except Exception:  # noqa: BLE001 - a broken half-written file is garbage anyway
                pass
        self._on_discard()

    @property
    def closed(self) -> bool:
        return self._raw.closed

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


class OutputWriter:
    """One attempt at an output. Files go straight to their final names (S3 has no
    rename); the manifest written by `commit` is what makes them visible."""

    def __init__(self, output: StageOutput) -> None:
        self.output = output
        self.started_at = datetime.now(timezone.utc)
        self._t0 = time.perf_counter()
        self._files: dict[str, FileEntry] = {}

    def open(self, name: str) -> _HashingFile:
        if not name or name.startswith("_") or ".." in name.split("/"):
            raise ValueError(f"invalid output file name {name!r} (names starting with '_' are reserved)")
        if name in self._files:
            raise ValueError(f"{name!r} was already written in this output (forget() it first to replace it)")
        rel = f"{self.output.dir}/{name}"
        raw = self.output.store.open(rel, "wb")

        def record(size: int, sha256: str) -> None:
            self._files[name] = FileEntry(path=name, size=size, sha256=sha256)

        return _HashingFile(raw, record, lambda: self.output.store.rm(rel))

    def exists(self, name: str) -> bool:
        return self.output.store.exists(f"{self.output.dir}/{name}")

    def adopt(self, name: str) -> FileEntry:
        """List a file an earlier attempt of a resumable stage wrote, checksummed now."""
        digest = hashlib.sha256()
        size = 0
        with self.output.store.open(f"{self.output.dir}/{name}", "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
        self._files[name] = FileEntry(path=name, size=size, sha256=digest.hexdigest())
        return self._files[name]

    def forget(self, name: str) -> None:
        """Remove a file this attempt wrote or adopted (an old checkpoint, say)."""
        self._files.pop(name, None)
        self.output.store.rm(f"{self.output.dir}/{name}")

    @property
    def files(self) -> list[FileEntry]:
        return list(self._files.values())

    def commit(
        self,
        *,
        shard: str | None,
        config_digest: str,
        inputs: list[str],
        counts: dict[str, int],
        extra: dict[str, Any] | None = None,
        stage_version: str,
    ) -> Manifest:
        store, out = self.output.store, self.output
        for entry in self._files.values():
            actual = store.size(f"{out.dir}/{entry.path}")
            if actual != entry.size:
                raise OSError(
                    f"{out.uri(entry.path)} holds {actual} bytes after writing {entry.size}; not committing"
                )
        finished = datetime.now(timezone.utc)
        manifest = Manifest(
            stage=out.stage,
            stage_version=stage_version,
            key=out.key,
            shard=shard,
            config_digest=config_digest,
            inputs=inputs,
            files=sorted(self._files.values(), key=lambda f: f.path),
            counts=counts,
            started_at=self.started_at,
            finished_at=finished,
            duration_s=round(time.perf_counter() - self._t0, 3),
            extra=extra or {},
        )
        store.rm(f"{out.dir}/{FAILURE_NAME}")
        store.write_atomic(f"{out.dir}/{MANIFEST_NAME}", manifest.model_dump_json(indent=2).encode())
        return manifest

    def fail(self, error: str, shard: str | None = None) -> None:
        """Record why the attempt failed; the data files stay uncommitted garbage."""
        failure = Failure(
            stage=self.output.stage, key=self.output.key, shard=shard, error=error,
            failed_at=datetime.now(timezone.utc),
        )
        self.output.store.write_atomic(
            f"{self.output.dir}/{FAILURE_NAME}", failure.model_dump_json(indent=2).encode()
        )
