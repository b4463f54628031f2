"""Checkpoints in storage: one `checkpoint-{step:06d}.pt` (torch.save of plain state dicts)
and, written after it, a small `checkpoint-{step:06d}.json` with its size and sha256.

Object stores have no rename, so a checkpoint is written straight to its final name; the
sidecar written last is what makes it complete, the way the manifest does for a stage
output. On load, a checkpoint without a valid sidecar (killed while saving), whose file is
missing, or whose bytes do not match the sidecar (damaged since) is reported and skipped,
and the newest good one is used instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import torch

from storage import OutputWriter, Store

FORMAT = 1
_NAME = re.compile(r"^checkpoint-(\d{6,})\.(pt|json)$")


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:06d}.pt"


def sidecar_name(step: int) -> str:
    return f"checkpoint-{step:06d}.json"


def checkpoint_steps(names: list[str]) -> list[int]:
    """Steps that have a checkpoint file or a sidecar among `names`, newest first."""
    return sorted({int(m.group(1)) for n in names if (m := _NAME.match(n))}, reverse=True)


def is_checkpoint_file(name: str) -> bool:
    return _NAME.match(name) is not None


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    name: str
    size: int
    sha256: str
    meta: dict[str, Any]


def save_checkpoint(writer: OutputWriter, step: int, state: dict[str, Any], meta: dict[str, Any] | None = None) -> CheckpointInfo:
    """Write the checkpoint, then its sidecar. Streamed: nothing is buffered whole in memory."""
    name, side = checkpoint_name(step), sidecar_name(step)
    for existing in (side, name):  # a second save of the same step replaces the first
        if any(f.path == existing for f in writer.files):
            writer.forget(existing)
    with writer.open(name) as f:
        torch.save(state, f)
    entry = next(e for e in writer.files if e.path == name)
    info = CheckpointInfo(step=step, name=name, size=entry.size, sha256=entry.sha256, meta=dict(meta or {}))
    body = {"format": FORMAT, "step": step, "file": name, "size": entry.size, "sha256": entry.sha256, **info.meta}
    with writer.open(side) as f:
        f.write(json.dumps(body, indent=2, sort_keys=True).encode())
    return info


def read_sidecar(store: Store, folder: str, step: int) -> dict[str, Any] | None:
    try:
        body = json.loads(store.read_bytes(f"{folder}/{sidecar_name(step)}"))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(body, dict) or not {"size", "sha256"} <= body.keys() or body.get("step") != step:
        return None
    return body


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says which and why."""


def read_checkpoint(store: Store, folder: str, step: int, *, verify: bool = True,
                    map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], CheckpointInfo]:
    """Load one checkpoint, checking it against its sidecar first when `verify`."""
    name = checkpoint_name(step)
    uri = store.uri(f"{folder}/{name}")
    side = read_sidecar(store, folder, step)
    if side is None:
        raise CheckpointError(f"{uri} is incomplete: no valid {sidecar_name(step)} (the attempt that wrote it "
                              "was killed while saving)")
    try:
        data = store.read_bytes(f"{folder}/{name}")
    except FileNotFoundError:
        raise CheckpointError(f"{uri} is missing (its {sidecar_name(step)} is there)") from None
    if verify:
        if len(data) != side["size"]:
            raise CheckpointError(f"{uri} is corrupt: {len(data)} bytes, {side['size']} were written")
        actual = hashlib.sha256(data).hexdigest()
        if actual != side["sha256"]:
            raise CheckpointError(f"{uri} is corrupt: sha256 {actual[:12]}..., {side['sha256'][:12]}... was written")
    try:
        state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise CheckpointError(f"{uri} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or state.get("step") != step:
        raise CheckpointError(f"{uri} is not a fineflow checkpoint of step {step}")
    meta = {k: v for k, v in side.items() if k not in ("format", "step", "file", "size", "sha256")}
    return state, CheckpointInfo(step=step, name=name, size=side["size"], sha256=side["sha256"], meta=meta)


def load_latest(store: Store, folder: str, logger: logging.Logger | logging.LoggerAdapter | None = None,
                map_location: str | torch.device = "cpu",
                names: list[str] | None = None) -> tuple[dict[str, Any] | None, CheckpointInfo | None, list[int]]:
    """The newest good checkpoint in `folder`: (state, info, steps found unusable).

    (None, None, bad) when there is none; each unusable one is logged with the reason.
    """
    logger = logger or logging.getLogger("fineflow.checkpoint")
    names = names if names is not None else store.listdir(folder)
    bad: list[int] = []
    for step in checkpoint_steps(names):
        try:
            state, info = read_checkpoint(store, folder, step, map_location=map_location)
        except CheckpointError as exc:
            logger.warning("checkpoint of step %d not used: %s; trying the one before", step, exc)
            bad.append(step)
            continue
        if bad:
            logger.warning("resuming from checkpoint of step %d, the newest good one (skipped step%s %s)",
                           step, "s" if len(bad) > 1 else "", ", ".join(map(str, bad)))
        return state, info, bad
    if bad:
        logger.warning("no usable checkpoint in %s (%d unusable): starting from scratch", store.uri(folder), len(bad))
    return None, None, bad
