"""The manifest: the last file a stage writes, and the proof its output is complete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.digest import digest

MANIFEST_NAME = "_manifest.json"
FAILURE_NAME = "_failed.json"


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="Relative to the output directory")
    size: int
    sha256: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = 1
    stage: str
    stage_version: str
    key: str
    shard: str | None = Field(None, description="The unit of work, for people: a WARC path, a shard name")
    config_digest: str
    inputs: list[str] = Field(default_factory=list, description="Digests of the input manifests")
    files: list[FileEntry]
    counts: dict[str, int] = Field(default_factory=dict)
    started_at: datetime
    finished_at: datetime
    duration_s: float
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Identity of the content, not of the run: timings and counts are left out, so a
        recomputed byte-identical output keeps its digest and the stages below stay cached."""
        return digest(
            {
                "stage": self.stage,
                "version": self.stage_version,
                "key": self.key,
                "files": sorted((f.path, f.size, f.sha256) for f in self.files),
            }
        )

    def file(self, path: str) -> FileEntry:
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(f"{path!r} is not in the manifest of {self.stage}/{self.key}")


class Failure(BaseModel):
    """Left by a failed attempt so `status` can tell failed from never run; no data."""

    stage: str
    key: str
    shard: str | None = None
    error: str
    failed_at: datetime
