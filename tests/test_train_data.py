"""The token-shard loader: every token once per epoch, deterministic order, rank sharding
that adds up to one process, and a position that restores exactly."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from models.data import TokenLoader, TokenStream, scan_units
from storage import Store

# The token fixtures (built once a session) come from a plugin module, not conftest.py.

SEQ = 32


def train_files(token_root) -> tuple[Store, list[str]]:
    root, _, token_refs = token_root
    files = sorted(r.path(f) for r in token_refs for f in r.files if f.startswith("train-"))
    return Store(str(root)), files


def all_docs(store: Store, files: list[str]) -> list[np.ndarray]:
    return [np.asarray(ids) for rel in files
            for ids in pq.read_table(store.path(rel), columns=["input_ids"]).column(0).to_pylist()]


def loader(token_root, **kw) -> TokenLoader:
    store, files = train_files(token_root)
    kw = {"seq_len": SEQ, "batch_size": 4, "seed": 7, "window_units": 3, **kw}
    return TokenLoader(store, files, **kw)


def batches(ld: TokenLoader, n: int) -> list[torch.Tensor]:
    out = []
    for _ in range(n):
        x, y = ld.next_batch()
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
        out.append(torch.cat([x, y[:, -1:]], dim=1))
    return out


def test_units_are_row_groups_with_their_token_counts(token_root):
    store, files = train_files(token_root)
    units = scan_units(store, files)
    docs = all_docs(store, files)
    assert len({u.file for u in units}) == len(files) == 2 and len(units) > 10
    assert sum(u.docs for u in units) == len(docs) and sum(u.tokens for u in units) == sum(map(len, docs))


@pytest.mark.parametrize("shuffle", [False, True])
def test_one_epoch_holds_every_token_exactly_once(token_root, shuffle):
    store, files = train_files(token_root)
    stream = TokenStream(store, files, seq_len=SEQ, seed=3, shuffle=shuffle, window_units=3)
    docs = all_docs(store, files)
    pieces, carry = [], None
    for seq, cursor in stream.sequences(stream.start()):
        if cursor.epoch:
            carry = cursor.carry  # the tokens carried out of the last window of epoch 0
            break
        assert len(seq) == SEQ + 1
        pieces.append(seq[:-1])  # the last token opens the next sequence (or the carry)
    seen = np.concatenate([*pieces, carry])
    expected = np.concatenate(docs)
    if shuffle:
        assert not np.array_equal(seen[:1000], expected[:1000])
        assert np.array_equal(np.bincount(seen, minlength=1024), np.bincount(expected, minlength=1024))
    else:
        assert np.array_equal(seen, expected)  # documents in file order, joined as they are


def test_order_is_fixed_by_the_seed(token_root):
    a, b, c = loader(token_root), loader(token_root), loader(token_root, seed=8)
    first, again, other = batches(a, 5), batches(b, 5), batches(c, 5)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not all(torch.equal(x, y) for x, y in zip(first, other))
    for ld in (a, b, c):
        ld.close()


def test_ranks_together_see_what_one_process_sees(token_root):
    single = loader(token_root, batch_size=4)
    ranks = [loader(token_root, batch_size=2, rank=r, world_size=2) for r in range(2)]
    for step in range(60):  # well past window and epoch boundaries
        (whole,) = batches(single, 1)
        parts = [batches(ld, 1)[0] for ld in ranks]
        # rank r takes sequences r, r + 2, ... of the stream that one process reads in order
        assert torch.equal(whole[0::2], parts[0]) and torch.equal(whole[1::2], parts[1]), step
        assert single.state_dict() == ranks[0].state_dict() == ranks[1].state_dict()
    for ld in (single, *ranks):
        ld.close()


@pytest.mark.parametrize("world_size", [1, 2])
def test_position_restores_exactly(token_root, world_size):
    epoch_batches = sum(u.tokens for u in scan_units(*train_files(token_root))) // SEQ // 4 // world_size
    for skip in (0, 3, epoch_batches - 1, epoch_batches + 5):
        ld = loader(token_root, rank=world_size - 1, world_size=world_size)
        batches(ld, skip)
        state = json.loads(json.dumps(ld.state_dict()))  # plain JSON: fits in any checkpoint
        expected = batches(ld, 12)
        ld.close()
        resumed = loader(token_root, rank=world_size - 1, world_size=world_size)
        resumed.load_state_dict(state)
        assert all(torch.equal(a, b) for a, b in zip(expected, batches(resumed, 12))), skip
        assert resumed.sequences_consumed == state["sequence"] + 12 * 4 * world_size
        resumed.close()


def test_a_position_for_other_data_is_refused(token_root):
    ld = loader(token_root)
    batches(ld, 2)
    state = ld.state_dict()
    ld.close()
    other = loader(token_root, seed=99)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="seq_len"):
        loader(token_root, seq_len=16).load_state_dict(state)
    other.close()


def test_reset_reads_the_same_batches_again(token_root):
    ld = loader(token_root, shuffle=False)
    first = batches(ld, 3)
    ld.reset()
    assert all(torch.equal(a, b) for a, b in zip(first, batches(ld, 3)))
    ld.close()


def test_no_tokens_is_a_clear_error(token_data):
    from storage.parquet import ShardWriter, tokens_schema

    store = Store(token_data.storage)
    writer = store.output("tokenize", "empty").begin()
    with ShardWriter(writer, "train", tokens_schema(1024)):
        pass
    with pytest.raises(ValueError, match="no tokens"):
        TokenLoader(store, ["tokenize/empty/train-00000.parquet"], seq_len=SEQ, batch_size=2)


def test_reading_errors_reach_the_consumer(token_data):
    store = Store(token_data.storage)
    files = sorted(r.path(f) for r in token_data.tokens for f in r.files if f.startswith("train-"))
    ld = TokenLoader(store, files, seq_len=SEQ, batch_size=2)
    store.rm(files[0])
    store.rm(files[1])
    with pytest.raises(FileNotFoundError):
        batches(ld, 1)
    ld.close()
