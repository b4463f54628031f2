"""Canonical digests: the same value always hashes the same, on every machine."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

KEY_LENGTH = 16  # hex digits: 64 bits, plenty for the outputs of one storage root


def canonical_json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any, length: int = KEY_LENGTH) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def content_key(stage: str, version: str, config: Any, inputs: Sequence[str]) -> str:
    """The key of a stage output: what the stage is, how it is set, and what it reads.

    Same stage version, same config and same input digests give the same key, so the work
    is found already done; any change gives a new key for this stage and, through the new
    output digest, for every stage below it. `inputs` keep their order: a caller whose
    inputs form a set sorts them first.
    """
    return digest({"stage": stage, "version": version, "config": config, "inputs": list(inputs)})
