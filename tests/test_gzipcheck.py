"""Streaming verification of multi-member gzip files."""

from __future__ import annotations

import gzip
import os

import pytest

from tasks.gzipcheck import CorruptGzip, GzipMembersVerifier

MEMBERS = [gzip.compress(os.urandom(n) + b"a" * n, mtime=0) for n in (10, 5000, 70000, 1)]
DATA = b"".join(MEMBERS)


def verify(data: bytes, chunk: int) -> int:
    v = GzipMembersVerifier(max_output=4096)
    for i in range(0, len(data), chunk):
        v.feed(data[i:i + chunk])
    return v.finish()


@pytest.mark.parametrize("chunk", [1, 7, 4096, len(DATA)])
def test_counts_members_whatever_the_chunking(chunk):
    assert verify(DATA, chunk) == len(MEMBERS)


def test_truncated_file_is_reported():
    with pytest.raises(CorruptGzip, match="truncated: gzip member 4"):
        verify(DATA[:-3], 1000)
    with pytest.raises(CorruptGzip, match="member 3 .* never ends"):
        verify(DATA[: len(MEMBERS[0]) + len(MEMBERS[1]) + 100], 1000)


def test_flipped_byte_and_trailing_garbage_are_reported():
    damaged = bytearray(DATA)
    damaged[len(MEMBERS[0]) + 200] ^= 0xFF
    with pytest.raises(CorruptGzip, match="gzip member 2 .* is corrupt"):
        verify(bytes(damaged), 512)
    with pytest.raises(CorruptGzip, match="gzip member 5"):
        verify(DATA + b"<html>not gzip</html>", 512)


def test_empty_input_is_not_a_gzip_file():
    with pytest.raises(CorruptGzip, match="no gzip data"):
        verify(b"", 10)
