"""Object storage for stage outputs: fsspec roots, atomic commits, manifests."""

from storage.config import StorageConfig
from storage.digest import canonical_json, content_key, digest
from storage.manifest import FAILURE_NAME, MANIFEST_NAME, Failure, FileEntry, Manifest
from storage.output import OutputState, OutputWriter, StageOutput
from storage.store import Store, StorageError, modified_at

__all__ = [
    "FAILURE_NAME", "MANIFEST_NAME", "Failure", "FileEntry", "Manifest", "OutputState",
    "OutputWriter", "StageOutput", "StorageConfig", "StorageError", "Store", "canonical_json",
    "content_key", "digest", "modified_at",
]
