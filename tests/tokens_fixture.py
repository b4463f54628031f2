"""Token shards and a tokenizer as committed stage outputs, built from the sample crawl's
text, standing in for the tokenizer and tokenize stages in the tests of training.

A byte-level BPE (vocabulary 1024, the pipeline's special tokens) is trained on the
paragraphs of the sample crawl's HTML pages (ten languages); each page becomes one
document ending in `<|endoftext|>`; every tenth document goes to validation. The pages are
split over two tokenize outputs, in row groups of a few documents, so the loader meets
several files and many row groups.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage import StorageConfig
from storage.parquet import ShardWriter, tokens_schema
from tasks.stage import OutputRef, Stage, StageJob, StageResult

EXPECTED = Path(__file__).resolve().parent.parent / "sample" / "crawl" / "expected.json"
SPECIAL_TOKENS = ["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
VOCAB_SIZE = 1024


def sample_texts() -> list[tuple[str, str]]:
    """(record id, text) of every HTML page of the sample crawl, in file order."""
    records = json.loads(EXPECTED.read_text())
    return [(r["record_id"], "\n\n".join(r["paragraphs"])) for r in records
            if r.get("kind") == "html" and r.get("paragraphs")]


def train_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE) -> str:
    """A byte-level BPE like the tokenizer stage's, as `tokenizer.json` text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer.to_str()


class FixtureJob(StageJob):
    part: int = 0


def _tokenizer_work(tokenizer_json: str):
    def work(job, out, ctx) -> StageResult:
        with out.open("tokenizer.json") as f:
            f.write(tokenizer_json.encode())
        return StageResult()
    return work


def _tokenize_work(docs: list[tuple[str, list[int]]], vocab_size: int, row_group_rows: int):
    def work(job, out, ctx) -> StageResult:
        counts = {}
        for split in ("train", "validation"):
            rows = [d for i, d in enumerate(docs) if (i % 10 == 9) == (split == "validation")]
            with ShardWriter(out, split, tokens_schema(vocab_size), row_group_rows=row_group_rows) as shards:
                for doc_id, ids in rows:
                    shards.write({"doc_id": doc_id, "input_ids": ids, "n_tokens": len(ids)})
            counts[f"{split}_tokens"] = sum(len(ids) for _, ids in rows)
        return StageResult(counts=counts)
    return work


def build_token_outputs(storage: StorageConfig, *, vocab_size: int = VOCAB_SIZE, parts: int = 2,
                        row_group_rows: int = 8) -> tuple[OutputRef, list[OutputRef]]:
    """Commit a `tokenizer` output and `parts` `tokenize` outputs into `storage`."""
    from tokenizers import Tokenizer

    texts = sample_texts()
    tokenizer_json = train_tokenizer([t for _, t in texts], vocab_size)
    tokenizer = Tokenizer.from_str(tokenizer_json)
    eot = tokenizer.token_to_id("<|endoftext|>")
    encoded = [e.ids + [eot] for e in tokenizer.encode_batch([t for _, t in texts], add_special_tokens=False)]
    docs = [(doc_id, ids) for (doc_id, _), ids in zip(texts, encoded)]

    tokenizer_ref = Stage(name="tokenizer", version="test", work=_tokenizer_work(tokenizer_json)).run(
        FixtureJob(storage=storage, shard="tokenizer"))
    token_refs = []
    for part in range(parts):
        stage = Stage(name="tokenize", version="test",
                      work=_tokenize_work(docs[part::parts], vocab_size, row_group_rows))
        token_refs.append(stage.run(FixtureJob(storage=storage, shard=f"part-{part}", part=part,
                                               sources=[tokenizer_ref])))
    return tokenizer_ref, token_refs


@dataclass
class TokenData:
    storage: StorageConfig
    tokenizer: OutputRef
    tokens: list[OutputRef]

    @property
    def sources(self) -> list[OutputRef]:
        return [self.tokenizer, *self.tokens]


@pytest.fixture(scope="session")
def token_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OutputRef, list[OutputRef]]:
    root = tmp_path_factory.mktemp("tokens")
    tokenizer_ref, token_refs = build_token_outputs(StorageConfig(root=str(root)))
    return root, tokenizer_ref, token_refs


@pytest.fixture
def token_data(token_root, tmp_path: Path) -> TokenData:
    """The token outputs in a storage root of the test's own (copied: built once a session)."""
    root, tokenizer_ref, token_refs = token_root
    store = tmp_path / "store"
    shutil.copytree(root, store)
    return TokenData(StorageConfig(root=str(store)), tokenizer_ref, token_refs)


# Settings for quick runs of the tiny model: a few seconds on two cores.
QUICK = {"steps": 12, "batch_tokens": 256, "micro_batch_size": 4, "lr": 3e-3, "warmup_steps": 2, "eval_every": 4,
         "eval_tokens": 512, "checkpoint_every": 4, "checkpoint_minutes": 0, "log_every": 4, "sample_tokens": 8,
         "sample_prompts": ["The"]}
# Within the demo's budget (the demo trains longer), the loss must already fall clearly.
LEARN = {**QUICK, "steps": 80, "batch_tokens": 1024, "micro_batch_size": 16, "warmup_steps": 10, "eval_every": 40,
         "eval_tokens": 4096, "checkpoint_every": 40, "sample_tokens": 24, "sample_prompts": ["", "The"]}


def quick_job(data: TokenData, **settings):
    from tasks.train import ModelSettings, TrainSettings, train_job

    return train_job(data.storage, data.tokens, data.tokenizer, ModelSettings(preset="tiny"),
                     TrainSettings(**{**QUICK, **settings}))


@dataclass
class TrainedRun:
    data: TokenData
    ref: OutputRef


@pytest.fixture(scope="session")
def trained_run(token_root, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The tiny model trained for 80 steps on the sample crawl, committed."""
    from tasks.train import TRAIN

    root, tokenizer_ref, token_refs = token_root
    store = tmp_path_factory.mktemp("trained") / "store"
    shutil.copytree(root, store)
    data = TokenData(StorageConfig(root=str(store)), tokenizer_ref, token_refs)
    return TrainedRun(data, TRAIN.run(quick_job(data, **LEARN)))
