"""Check, while bytes stream past, that a file is whole, valid multi-member gzip."""

from __future__ import annotations

import queue
import threading

# ISA-L inflates about 2.5x faster than zlib here, and inflating is most of a download's CPU.
from isal import isal_zlib as zlib


class CorruptGzip(ValueError):
    pass


class GzipMembersVerifier:
    """Feed it a gzip file's bytes in any chunks; `finish()` raises unless every member
    decompressed with a correct CRC and length and the last one ended.

    Common Crawl's WARC files are one gzip member per record, so this also checks that
    every record is intact. Output is discarded as it is produced: memory stays bounded
    by `max_output` however well the data compresses.
    """

    def __init__(self, max_output: int = 1 << 20) -> None:
        self.members = 0
        self.compressed = 0
        self._max_output = max_output
        self._member: zlib._Decompress | None = None
        self._member_start = 0

    def feed(self, data: bytes) -> None:
        position = self.compressed
        self.compressed += len(data)
        while data:
            if self._member is None:
                self._member = zlib.decompressobj(zlib.MAX_WBITS | 16)
                self._member_start = position
            before = len(data)
            try:
                self._member.decompress(data, self._max_output)
            except zlib.error as exc:
                raise CorruptGzip(
                    f"gzip member {self.members + 1} (starting at byte {self._member_start}) is corrupt: {exc}"
                ) from None
            if self._member.eof:
                self.members += 1
                data = self._member.unused_data
                self._member = None
            else:
                data = self._member.unconsumed_tail
            position += before - len(data)

    def finish(self) -> int:
        """The number of members; raises if the data ended inside one or held none."""
        if self._member is not None:
            raise CorruptGzip(
                f"truncated: gzip member {self.members + 1} starting at byte {self._member_start} never ends "
                f"(file ends at byte {self.compressed})"
            )
        if self.members == 0:
            raise CorruptGzip("no gzip data")
        return self.members


class BackgroundVerifier:
    """A GzipMembersVerifier on its own thread, fed through a bounded queue.

    Inflating costs more than receiving and writing together; ISA-L releases the GIL, so
    on its own thread it overlaps with the network and the writes. Corruption is raised at
    the next `feed` after it is found, so a bad download stops early.
    """

    def __init__(self, max_pending: int = 16) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_pending)
        self._verifier = GzipMembersVerifier()
        self._error: CorruptGzip | None = None
        self._thread = threading.Thread(target=self._run, name="gzip-verify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._verifier.feed(data)
                except CorruptGzip as exc:
                    self._error = exc

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def finish(self) -> int:
        self._stop()
        if self._error is not None:
            raise self._error
        return self._verifier.finish()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
