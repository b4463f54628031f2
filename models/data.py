"""Training batches streamed from Parquet token shards, with a position that can be saved
and restored exactly.

The data is one endless stream of fixed-length sequences, the same whatever the number of
processes or the batch size:

- A *unit* is one row group of one shard. Each epoch visits every unit once, in an order
  shuffled by (seed, epoch); consecutive units form a *window* (`window_units` of them).
- In a window the documents (which already end with `<|endoftext|>`) are shuffled, joined,
  and cut into sequences of `seq_len + 1` tokens that overlap by one token (input and
  shifted target); the sequences of the window are then shuffled. Tokens left over at the
  end of a window (fewer than a sequence) are carried to the front of the next one, so no
  token is ever dropped and no document is cut short on purpose.
- Data-parallel rank `r` of `W` takes sequences `r, r + W, r + 2W, ...` of that stream, so
  the W ranks together see exactly the sequences one process would: a run on W GPUs with
  the same global batch trains on the same data as a run on one. Every rank reads every
  window; token data is small next to the compute it feeds (a GPU training GPT-2 consumes
  about 1 MB/s of uint16 tokens), so this costs little and keeps the stream independent of W.

The position is (epoch, window, index in the window, the tokens carried into the window,
sequences consumed): rebuilding one window is all a restore costs, and it lands on exactly
the next sequence. A background thread reads and cuts ahead so the model never waits on
storage; the position reported is that of the batches handed out, not of the read-ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow.parquet as pq
import torch

from storage import Store, digest

STATE_VERSION = 1


@dataclass(frozen=True)
class Unit:
    """One row group of one token shard."""

    file: str
    row_group: int
    docs: int
    tokens: int


def scan_units(store: Store, files: Sequence[str], threads: int = 8) -> list[Unit]:
    """The row groups of the shards, with their token counts (read from the small
    `n_tokens` column only). Empty row groups are left out."""

    def scan(rel: str) -> list[Unit]:
        with store.open(rel, "rb") as f:
            parquet = pq.ParquetFile(f)
            units = []
            for rg in range(parquet.num_row_groups):
                n_tokens = parquet.read_row_group(rg, columns=["n_tokens"]).column(0).to_numpy()
                if n_tokens.sum() > 0:
                    units.append(Unit(rel, rg, int(len(n_tokens)), int(n_tokens.sum())))
            return units

    with ThreadPoolExecutor(max(1, min(threads, len(files)))) as pool:
        return [u for units in pool.map(scan, files) for u in units]


class Cursor(NamedTuple):
    """Where a sequence sits in the stream; `carry` is shared by a window's sequences."""

    epoch: int
    window: int
    index: int
    carry: np.ndarray
    sequence: int


class TokenStream:
    """The endless, deterministic stream of sequences over a set of token shards."""

    def __init__(self, store: Store, files: Sequence[str], *, seq_len: int, seed: int = 0, shuffle: bool = True,
                 window_units: int = 4, units: list[Unit] | None = None) -> None:
        if seq_len < 1 or window_units < 1:
            raise ValueError("seq_len and window_units must be positive")
        self.store = store
        self.seq_len = seq_len
        self.seed = seed
        self.shuffle = shuffle
        self.window_units = window_units
        self.units = units if units is not None else scan_units(store, sorted(files))
        self.tokens = sum(u.tokens for u in self.units)
        if self.tokens == 0:
            raise ValueError(f"no tokens in {len(files)} shard file(s): nothing to train or evaluate on")
        self.windows_per_epoch = -(-len(self.units) // window_units)
        self.fingerprint = digest([[u.file, u.row_group, u.docs, u.tokens] for u in self.units])
        self._files: dict[str, tuple[Any, pq.ParquetFile]] = {}

    def _rng(self, *path: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *path])

    def window_units_of(self, epoch: int, window: int) -> list[Unit]:
        order = self._rng(epoch, 0).permutation(len(self.units)) if self.shuffle else np.arange(len(self.units))
        picked = order[window * self.window_units:(window + 1) * self.window_units]
        return [self.units[i] for i in picked]

    def _read(self, unit: Unit) -> tuple[np.ndarray, np.ndarray]:
        """(token values, document offsets) of one row group."""
        if unit.file not in self._files:
            handle = self.store.open(unit.file, "rb")
            self._files[unit.file] = (handle, pq.ParquetFile(handle))
        column = self._files[unit.file][1].read_row_group(unit.row_group, columns=["input_ids"]).column(0)
        ids = column.combine_chunks()
        # `values` is the whole child array even when `ids` is a slice; the offsets index into it.
        return ids.values.to_numpy(), ids.offsets.to_numpy()

    def build_window(self, epoch: int, window: int, carry: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, sequence starts in visiting order, tokens carried to the next window)."""
        docs: list[np.ndarray] = []
        for unit in self.window_units_of(epoch, window):
            values, offsets = self._read(unit)
            docs.extend(values[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1))
        if self.shuffle:
            docs = [docs[i] for i in self._rng(epoch, 1, window).permutation(len(docs))]
        dtype = docs[0].dtype if docs else carry.dtype
        tokens = np.concatenate([carry.astype(dtype, copy=False), *docs]) if docs else carry
        n = (len(tokens) - 1) // self.seq_len if len(tokens) > self.seq_len else 0
        order = self._rng(epoch, 2, window).permutation(n) if self.shuffle else np.arange(n)
        return tokens, order * self.seq_len, tokens[n * self.seq_len:].copy()

    def sequences(self, start: Cursor) -> Iterator[tuple[np.ndarray, Cursor]]:
        """Every sequence from `start` on (seq_len + 1 tokens each), with its cursor."""
        epoch, window, index, carry, sequence = start
        while True:
            tokens, starts, leftover = self.build_window(epoch, window, carry)
            for i in range(index, len(starts)):
                yield tokens[starts[i]:starts[i] + self.seq_len + 1], Cursor(epoch, window, i, carry, sequence)
                sequence += 1
            carry, index = leftover, 0
            window += 1
            if window == self.windows_per_epoch:
                epoch, window = epoch + 1, 0

    def start(self) -> Cursor:
        return Cursor(0, 0, 0, np.zeros(0, dtype=np.uint32), 0)

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()
        self._files.clear()


_DONE = object()


class TokenLoader:
    """Batches of one data-parallel rank, read ahead on a background thread.

    `next_batch()` returns (inputs, targets), each `[batch_size, seq_len]` int64 on
    `device`; `state_dict()` is the position after the last batch returned, and
    `load_state_dict()` continues from one exactly (on any rank of the same world size,
    or of another: the position is the stream's, not the rank's).
    """

    def __init__(self, store: Store, files: Sequence[str], *, seq_len: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, shuffle: bool = True, window_units: int = 4,
                 prefetch_batches: int = 8, device: torch.device | str = "cpu",
                 units: list[Unit] | None = None) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.stream = TokenStream(store, files, seq_len=seq_len, seed=seed, shuffle=shuffle,
                                  window_units=window_units, units=units)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.prefetch_batches = max(1, prefetch_batches)
        self.device = torch.device(device)
        self._pin = self.device.type == "cuda"
        self._position = self.stream.start()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def tokens_per_epoch(self) -> int:
        return self.stream.tokens

    # the producer
    def _rank_sequences(self, start: Cursor) -> Iterator[tuple[np.ndarray, Cursor]]:
        """This rank's sequences, each with the position after the group of W it came from."""
        stream = self.stream.sequences(start)
        head = next(stream)
        while True:
            group = [head] + [next(stream) for _ in range(self.world_size - 1)]
            head = next(stream)
            yield group[self.rank][0], head[1]

    def _produce(self, start: Cursor) -> None:
        try:
            rows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
            filled = 0
            for seq, after in self._rank_sequences(start):
                rows[filled] = seq
                filled += 1
                if filled < self.batch_size:
                    continue
                batch = torch.from_numpy(rows)
                if self._pin:
                    batch = batch.pin_memory()
                while not self._stop.is_set():
                    try:
                        self._queue.put((batch, after), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
                rows = np.empty_like(rows)
                filled = 0
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._queue.put((exc, None))
        finally:
            self.stream.close()

    def _start(self) -> None:
        self._stop.clear()
        self._queue = queue.Queue(maxsize=self.prefetch_batches)
        self._thread = threading.Thread(target=self._produce, args=(self._position,), daemon=True,
                                        name=f"token-loader-{self.rank}")
        self._thread.start()

    # the consumer
    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._thread is None:
            self._start()
        batch, after = self._queue.get()
        if isinstance(batch, BaseException):
            self.close()
            raise batch
        self._position = after
        batch = batch.to(self.device, non_blocking=True)
        return batch[:, :-1], batch[:, 1:]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield self.next_batch()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)
            self._thread = None
            self._queue = None

    # the position
    def state_dict(self) -> dict[str, Any]:
        p = self._position
        return {
            "version": STATE_VERSION, "data": self.stream.fingerprint, "seq_len": self.seq_len,
            "seed": self.stream.seed, "shuffle": self.stream.shuffle, "window_units": self.stream.window_units,
            "epoch": p.epoch, "window": p.window, "index": p.index, "sequence": p.sequence,
            "carry": p.carry.tolist(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        expected = self.state_dict()
        for field in ("version", "data", "seq_len", "seed", "shuffle", "window_units"):
            if state.get(field) != expected[field]:
                raise ValueError(f"data-loader position does not fit this data: {field} is {state.get(field)!r}, "
                                 f"expected {expected[field]!r}")
        if state["sequence"] % self.world_size:
            raise ValueError(f"data-loader position {state['sequence']} is not at a batch boundary for "
                             f"{self.world_size} processes")
        self.close()
        self._position = Cursor(int(state["epoch"]), int(state["window"]), int(state["index"]),
                                np.asarray(state["carry"], dtype=np.uint32), int(state["sequence"]))

    def reset(self) -> None:
        """Back to the start of the stream (evaluation reads the same batches every time)."""
        self.close()
        self._position = self.stream.start()

    @property
    def sequences_consumed(self) -> int:
        """Sequences of the whole stream (all ranks) before the next batch."""
        return self._position.sequence
