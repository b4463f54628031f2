"""Streaming reads of remote files that survive throttling and dropped connections.

https:// goes through httpx with HTTP Range resume, retries on 5xx/429, timeouts and
connection errors with exponential backoff and jitter, and honours `Retry-After` (Common
Crawl throttles with 503 + Retry-After). file:// and s3:// go through fsspec with the same
resume-and-retry loop.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

import fsspec
import httpx
from pydantic import BaseModel, ConfigDict, Field

from tasks.stage import PermanentError

USER_AGENT = "fineflow/0.1 (Common Crawl to GPT pipeline; +https://github.com/fineflow/fineflow)"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FetchSettings(BaseModel):
    """How to fetch; none of it changes what is fetched, so none of it enters output keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_agent: str = USER_AGENT
    connect_timeout_s: float = Field(30.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(8, ge=0, description="Consecutive failures without progress before giving up")
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles each time")
    max_backoff_s: float = Field(60.0, ge=0)
    max_retry_after_s: float = Field(600.0, ge=0, description="Cap on a server's Retry-After")
    chunk_size: int = Field(1 << 20, ge=4096)
    s3_endpoint_url: str | None = Field(None, description="For s3:// data URLs other than AWS")


class FetchError(RuntimeError):
    """A transfer that kept failing after every retry."""


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def join_url(base: str, rel: str) -> str:
    return f"{base.rstrip('/')}/{rel.lstrip('/')}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Fetcher:
    """Streams URLs. One instance holds one HTTP connection pool; close it when done."""

    def __init__(self, settings: FetchSettings | None = None, logger: logging.Logger | logging.LoggerAdapter | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or FetchSettings()
        self.logger = logger or logging.getLogger("fineflow.fetch")
        self._sleep = sleep
        self._client: httpx.Client | None = None

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            s = self.settings
            self._client = httpx.Client(
                headers={"User-Agent": s.user_agent},
                timeout=httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s),
                follow_redirects=True,
            )
        return self._client

    def read(self, url: str, limit: int = 256 << 20) -> bytes:
        """A small file whole (a paths list, collinfo.json)."""
        parts = []
        size = 0
        for chunk in self.stream(url):
            size += len(chunk)
            if size > limit:
                raise PermanentError(f"{url} is larger than {limit} bytes; refusing to read it into memory")
            parts.append(chunk)
        return b"".join(parts)

    def stream(self, url: str, on_total: Callable[[int | None], None] | None = None) -> Iterator[bytes]:
        """The bytes of `url`, in chunks, exactly once each, resuming after failures.

        `on_total` hears the size as soon as it is known (and again if a server corrects it).
        Raises PermanentError for a missing file or bad request, FetchError when the
        retries run out.
        """
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            opener = self._open_http
        elif scheme in ("file", "s3", "memory", ""):
            opener = self._open_fsspec
        else:
            raise PermanentError(f"unsupported URL scheme {scheme!r} in {url}; use https://, s3:// or file://")
        state = {"offset": 0, "total": None}
        failures = 0
        attempts = 0
        while True:
            attempts += 1
            start = state["offset"]
            try:
                for chunk in opener(url, state, on_total):
                    state["offset"] += len(chunk)
                    yield chunk
                return
            except _Transient as exc:
                reason, retry_after = str(exc), exc.retry_after
            except (httpx.TransportError, OSError) as exc:
                if isinstance(exc, FileNotFoundError):
                    raise PermanentError(f"{url}: not found") from exc
                reason, retry_after = f"{type(exc).__name__}: {exc}", None
            # A failure after progress is a new problem, not the old one again.
            failures = 1 if state["offset"] > start else failures + 1
            if failures > self.settings.max_retries or attempts > 10 * (self.settings.max_retries + 1):
                raise FetchError(f"{url}: giving up after {attempts} attempts; last error: {reason}")
            delay = self._delay(failures, retry_after)
            self.logger.warning("%s: %s; retrying in %.1f s from byte %d", url, reason, delay, state["offset"])
            self._sleep(delay)

    def _delay(self, failures: int, retry_after: float | None) -> float:
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.max_retry_after_s)
        base = min(s.backoff_s * 2 ** (failures - 1), s.max_backoff_s)
        return base * random.uniform(0.5, 1.0)  # jitter: clients throttled together retry apart

    def _open_http(self, url: str, state: dict, on_total) -> Iterator[bytes]:
        offset = state["offset"]
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in (404, 410):
                raise PermanentError(f"{url}: {status} {response.reason_phrase}")
            if status in RETRYABLE_STATUS:
                raise _Transient(f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))
            if status == 416 and offset:
                # Nothing left past `offset`: the server's earlier length was wrong, or it
                # shrank. Only a total equal to what we hold means we are done.
                m = re.match(r"bytes \*/(\d+)", response.headers.get("Content-Range", ""))
                if m and int(m.group(1)) == offset:
                    self._set_total(state, offset, on_total, url)
                    return
                raise _Transient(f"HTTP 416 at byte {offset}")
            if status >= 400:
                raise PermanentError(f"{url}: HTTP {status} {response.reason_phrase}")
            skip = 0
            if status == 206:
                m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != offset:
                    raise _Transient(f"bad Content-Range {response.headers.get('Content-Range')!r} for byte {offset}")
                if m.group(3) != "*":
                    self._set_total(state, int(m.group(3)), on_total, url)
            else:
                skip = offset  # the server ignored Range: drop what we already hold
                length = response.headers.get("Content-Length")
                if length is not None and not response.headers.get("Content-Encoding"):
                    self._set_total(state, int(length), on_total, url)
            received = 0
            # No re-chunking: bytes are handed on as they arrive, so a connection reset
            # loses nothing already received and the resume starts right after it.
            for chunk in response.iter_raw():
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk, skip = chunk[skip:], 0
                received += len(chunk)
                yield chunk
            total = state["total"]
            if total is not None and offset + received < total:
                raise _Transient(f"connection closed at byte {offset + received} of {total}")

    def _open_fsspec(self, url: str, state: dict, on_total) -> Iterator[bytes]:
        options = {}
        if url.startswith("s3://") and self.settings.s3_endpoint_url:
            options["client_kwargs"] = {"endpoint_url": self.settings.s3_endpoint_url}
        fs, path = fsspec.core.url_to_fs(url, **options)
        if state["total"] is None:
            try:
                self._set_total(state, int(fs.size(path)), on_total, url)
            except FileNotFoundError as exc:
                raise PermanentError(f"{url}: not found") from exc
        with fs.open(path, "rb", block_size=self.settings.chunk_size) as f:
            f.seek(state["offset"])
            while chunk := f.read(self.settings.chunk_size):
                yield chunk
        if state["offset"] < state["total"]:
            raise _Transient(f"read stopped at byte {state['offset']} of {state['total']}")

    def _set_total(self, state: dict, total: int, on_total, url: str) -> None:
        if state["total"] is not None and state["total"] != total:
            self.logger.warning("%s: size given as %d, now %d; trusting the later", url, state["total"], total)
        state["total"] = total
        if on_total is not None:
            on_total(total)
