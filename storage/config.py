"""Where outputs live: one root URL plus the few options an object store needs."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SUPPORTED_PROTOCOLS = ("file", "s3", "memory")


class StorageConfig(BaseModel):
    """The storage root and how to reach it.

    S3 endpoint, region and credentials may be left unset: botocore then reads them from
    the environment (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, ...)
    or a profile. Credentials given here are `SecretStr`, so they never appear in logs,
    reprs or the parameters Prefect records.
    """

    model_config = ConfigDict(extra="forbid")

    root: str = Field("./data", description="Local folder, file://, s3://bucket/prefix or memory://")
    endpoint_url: str | None = Field(None, description="S3 endpoint (MinIO, moto, R2...)")
    region: str | None = None
    key: SecretStr | None = None
    secret: SecretStr | None = None
    block_size: int = Field(
        16 * 2**20,
        ge=5 * 2**20,
        description="Buffer per open file; on S3 also the multipart part size (5 MiB minimum)",
    )

    @field_validator("root")
    @classmethod
    def _known_protocol(cls, root: str) -> str:
        if not root.strip():
            raise ValueError("storage root is empty")
        scheme = urlparse(root).scheme
        # A one-letter scheme is a Windows drive, not a protocol.
        if scheme and len(scheme) > 1 and scheme not in SUPPORTED_PROTOCOLS:
            raise ValueError(
                f"unsupported storage protocol {scheme!r} in {root!r}; "
                f"use a local path or one of {', '.join(p + '://' for p in SUPPORTED_PROTOCOLS)}"
            )
        if scheme == "s3" and not urlparse(root).netloc:
            raise ValueError(f"s3 root {root!r} names no bucket; expected s3://bucket/prefix")
        return root

    @property
    def protocol(self) -> str:
        scheme = urlparse(self.root).scheme
        return scheme if scheme in SUPPORTED_PROTOCOLS else "file"

    def fsspec_options(self) -> dict:
        """Keyword arguments for `fsspec.filesystem(self.protocol, ...)`."""
        if self.protocol == "file":
            return {"auto_mkdir": True}
        if self.protocol == "s3":
            client_kwargs = {}
            endpoint = self.endpoint_url or os.environ.get("FINEFLOW_S3_ENDPOINT_URL")
            if endpoint:
                client_kwargs["endpoint_url"] = endpoint
            if self.region:
                client_kwargs["region_name"] = self.region
            options: dict = {"client_kwargs": client_kwargs, "default_block_size": self.block_size}
            if self.key is not None and self.secret is not None:
                options["key"] = self.key.get_secret_value()
                options["secret"] = self.secret.get_secret_value()
            return options
        return {}

    def public_options(self) -> dict:
        """fsspec options without credentials: safe to store in a Prefect block or a log."""
        options = self.fsspec_options()
        options.pop("key", None)
        options.pop("secret", None)
        return options
