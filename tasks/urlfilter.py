"""The URL filter: datatrove's URLFilter with its shipped block lists, run offline, plus
block and allow lists from the config."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class UrlFilterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    integrated_lists: bool = Field(True, description="datatrove's shipped block lists (FineWeb's)")
    soft_word_threshold: int = Field(2, ge=1)
    block_domains: list[str] = Field(default_factory=list, description="Also blocked, with their subdomains")
    block_url_patterns: list[str] = Field(default_factory=list, description="Regexes searched in the URL")
    allow_domains: list[str] = Field(default_factory=list, description="Never blocked, with their subdomains")
    allow_url_patterns: list[str] = Field(default_factory=list, description="Regexes; a match is never blocked")

    @field_validator("block_url_patterns", "allow_url_patterns")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


def _on_domain(host: str, domains: list[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


@lru_cache(maxsize=4)
def _datatrove_url_filter(soft_word_threshold: int, integrated_lists: bool):
    """Loading the shipped block lists takes seconds; a process loads them once and every
    WARC it extracts shares them (the filter is only read after loading)."""
    from datatrove.pipeline.filters import URLFilter
    from tldextract import TLDExtract

    block = URLFilter(soft_word_threshold=soft_word_threshold, use_integrated_lists=integrated_lists)
    # tldextract would fetch the public suffix list first; its bundled copy is enough.
    block.tldextractor = TLDExtract(suffix_list_urls=())
    block.download_data()
    # The lists are only ever tested for membership. As sets, the garbage collector tracks
    # them and every full collection walks their 4.6M entries (0.3-0.5 s each, 5-8 times a
    # demo run per process); a dict of str keys and None values is never tracked.
    block.block_listed_domains = dict.fromkeys(block.block_listed_domains)
    block.block_listed_url = dict.fromkeys(block.block_listed_url)
    return block


class UrlFilter:
    """`check(url)` -> None to keep, or the reason to reject."""

    def __init__(self, settings: UrlFilterSettings) -> None:
        self.settings = settings
        self._block = [re.compile(p) for p in settings.block_url_patterns]
        self._allow = [re.compile(p) for p in settings.allow_url_patterns]
        self._allow_domains = [d.lower().lstrip(".") for d in settings.allow_domains]
        self._block_domains = [d.lower().lstrip(".") for d in settings.block_domains]

    @property
    def _datatrove(self):
        return _datatrove_url_filter(self.settings.soft_word_threshold, self.settings.integrated_lists)

    def check(self, url: str) -> str | None:
        host = (urlsplit(url).hostname or "").lower()
        if _on_domain(host, self._allow_domains) or any(p.search(url) for p in self._allow):
            return None
        if _on_domain(host, self._block_domains):
            return "url_filter:config_domain"
        if any(p.search(url) for p in self._block):
            return "url_filter:config_pattern"
        from datatrove.data import Document

        verdict = self._datatrove.filter(Document(text="", id=url, metadata={"url": url}))
        if verdict is True:
            return None
        reason = verdict[1] if isinstance(verdict, tuple) else "blocked"
        return f"url_filter:{reason}"
