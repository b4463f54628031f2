"""Which WARC files to fetch: resolve a crawl id, read its paths list, select from it."""

from __future__ import annotations

import gzip
import json
import random
import re
import zlib
from posixpath import normpath
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.fetch import Fetcher, FetchSettings, join_url
from tasks.stage import PermanentError

_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class CrawlSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    crawl: str = Field("latest", description="A crawl id such as CC-MAIN-2024-10, or 'latest'")
    data_url: str = Field("https://data.commoncrawl.org", description="https://, s3:// or file:// root of crawl-data/")
    index_url: str = Field("https://index.commoncrawl.org/collinfo.json", description="Where 'latest' is looked up")

    @field_validator("crawl")
    @classmethod
    def _crawl_id(cls, crawl: str) -> str:
        if crawl != "latest" and not _CRAWL_ID.match(crawl):
            raise ValueError(f"{crawl!r} is not a crawl id (expected e.g. CC-MAIN-2024-10, or 'latest')")
        return crawl

    @field_validator("data_url", "index_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if urlparse(url).scheme not in ("http", "https", "s3", "file"):
            raise ValueError(f"{url!r} is not an https://, s3:// or file:// URL")
        return url

    @property
    def local_data(self) -> bool:
        """WARC files come from a folder on this machine (file://), not from a server."""
        return urlparse(self.data_url).scheme == "file"


class Selection(BaseModel):
    """Which WARC files of a crawl: at most one way of choosing; none means all of them."""

    model_config = ConfigDict(extra="forbid")

    first: int | None = Field(None, ge=1, description="The first N paths")
    sample: int | None = Field(None, ge=1, description="A seeded random sample of N paths")
    seed: int = 0
    paths: list[str] | None = Field(None, description="These paths, exactly")
    shard: str | None = Field(None, description="'i/n': every n-th path starting at i (0-based)")

    @field_validator("shard")
    @classmethod
    def _shard(cls, shard: str | None) -> str | None:
        if shard is None:
            return None
        m = re.fullmatch(r"(\d+)/(\d+)", shard.strip())
        if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
            raise ValueError(f"shard {shard!r} must be 'i/n' with 0 <= i < n")
        return shard.strip()

    @model_validator(mode="after")
    def _one_way(self) -> Selection:
        chosen = [name for name in ("first", "sample", "paths", "shard") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"choose WARC files one way only, got {' and '.join(chosen)}")
        return self

    def describe(self) -> str:
        if self.first is not None:
            return f"first {self.first}"
        if self.sample is not None:
            return f"sample of {self.sample} (seed {self.seed})"
        if self.paths is not None:
            return f"{len(self.paths)} listed paths"
        if self.shard is not None:
            return f"shard {self.shard}"
        return "all"

    def apply(self, paths: list[str]) -> list[str]:
        if self.first is not None:
            return paths[: self.first]
        if self.sample is not None:
            if self.sample >= len(paths):
                return list(paths)
            picked = set(random.Random(self.seed).sample(range(len(paths)), self.sample))
            return [p for i, p in enumerate(paths) if i in picked]
        if self.paths is not None:
            known = set(paths)
            unknown = [p for p in self.paths if p not in known]
            if unknown:
                raise PermanentError(f"{len(unknown)} selected path(s) are not in the crawl's list, e.g. {unknown[0]!r}")
            return list(dict.fromkeys(self.paths))
        if self.shard is not None:
            i, n = (int(x) for x in self.shard.split("/"))
            return paths[i::n]
        return list(paths)


def paths_url(data_url: str, crawl: str) -> str:
    return join_url(data_url, f"crawl-data/{crawl}/warc.paths.gz")


def resolve_crawl(settings: CrawlSettings, fetch: FetchSettings | None = None) -> str:
    """The crawl id; 'latest' becomes the newest entry of the index's collinfo.json."""
    if settings.crawl != "latest":
        return settings.crawl
    with Fetcher(fetch) as fetcher:
        raw = fetcher.read(settings.index_url, limit=16 << 20)
    try:
        entries = json.loads(raw)
        crawl = entries[0]["id"]
    except (ValueError, LookupError, TypeError) as exc:
        raise PermanentError(
            f"{settings.index_url} is not a Common Crawl collinfo.json (a JSON list of objects with 'id')"
        ) from exc
    CrawlSettings(crawl=crawl)  # the index is input too: validate what it names
    return crawl


def validate_path(line: str, crawl: str, lineno: int) -> str:
    """A path line must stay inside its crawl: relative, no '..', no scheme or host."""
    where = f"warc.paths.gz line {lineno}"
    if not line or line != line.strip():
        raise PermanentError(f"{where}: empty or padded path {line!r}")
    if urlparse(line).scheme or line.startswith("//"):
        raise PermanentError(f"{where}: {line!r} names a host; paths must be relative to the data URL")
    if line.startswith("/"):
        raise PermanentError(f"{where}: {line!r} is absolute; paths must be relative to the data URL")
    if ".." in line.split("/") or "\\" in line or normpath(line) != line:
        raise PermanentError(f"{where}: {line!r} escapes the crawl directory")
    if not line.startswith(f"crawl-data/{crawl}/"):
        raise PermanentError(f"{where}: {line!r} is outside crawl-data/{crawl}/")
    return line


def parse_paths(raw: bytes, crawl: str, source: str) -> list[str]:
    if raw[:2] != b"\x1f\x8b":
        raise PermanentError(f"{source} is not gzip (starts with {raw[:8]!r}); expected a gzipped list of paths")
    try:
        text = gzip.decompress(raw).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise PermanentError(f"{source} is not a readable gzipped text file: {exc}") from exc
    lines = text.splitlines()
    paths = [validate_path(line, crawl, i) for i, line in enumerate(lines, 1) if line.strip()]
    if not paths:
        raise PermanentError(f"{source} lists no WARC files")
    return paths


def list_warc_paths(settings: CrawlSettings, crawl: str, fetch: FetchSettings | None = None) -> list[str]:
    """Every WARC path of `crawl`, validated; bad input raises PermanentError naming it."""
    url = paths_url(settings.data_url, crawl)
    try:
        with Fetcher(fetch) as fetcher:
            raw = fetcher.read(url, limit=64 << 20)
    except PermanentError as exc:
        if "not found" in str(exc).lower() or ": 404" in str(exc):
            raise PermanentError(f"unknown crawl {crawl!r}: {url} does not exist") from exc
        raise
    return parse_paths(raw, crawl, url)
