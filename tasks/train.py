"""The train stage: a GPT trained on the token shards, one output per run.

The output folder `train/{key}/` holds, once committed: the last checkpoints
(`checkpoint-{step:06d}.pt` + `.json`), `tokenizer.json` (so the output is all that
sampling and export need), `metrics.parquet` (one row per step), `loss.png` and
`samples.txt`.

The stage is resumable: an attempt that is killed or fails leaves its checkpoints, and the
next attempt (a Prefect retry, or the same run started again) continues from the newest
good one, with the model, optimizer, schedule, data-loader position and RNG states it
had, so the loss curve is the one an uninterrupted run draws.

This module holds what a flow needs to plan and cache a run (settings, the job, the stage)
and imports no torch; the training loop is in `tasks/train_loop.py`, imported by the stage
function when it runs, and reading a committed run is in `tasks/trained.py`. Under
`torchrun` the same loop trains with DDP: see `tasks/train_ddp.py`, and
`TrainSettings.processes`, which makes the task launch it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.presets import PRESETS, GPTConfig, padded_vocab, preset
from storage import OutputWriter, StageOutput, Store
from tasks.stage import OutputRef, PermanentError, Stage, StageContext, StageJob, StageResult, stage_task

TOKENIZE_STAGE = "tokenize"
TOKENIZER_STAGE = "tokenizer"
TOKENIZER_FILE = "tokenizer.json"
METRICS_FILE = "metrics.parquet"
SAMPLES_FILE = "samples.txt"
LOSS_PLOT_FILE = "loss.png"


class ModelSettings(BaseModel):
    """The model's shape: a preset, optionally with some of its numbers changed. The
    vocabulary is the tokenizer's, rounded up to `vocab_multiple`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = Field("tiny", description=f"One of: {', '.join(PRESETS)}")
    n_layer: int | None = Field(None, ge=1, description="Layers (default: the preset's)")
    n_head: int | None = Field(None, ge=1, description="Attention heads (default: the preset's)")
    n_embd: int | None = Field(None, ge=1, description="Width (default: the preset's)")
    block_size: int | None = Field(None, ge=8, description="Context in tokens (default: the preset's)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    vocab_multiple: int = Field(64, ge=1, description="Embedding rows rounded up to a multiple of this (GPU speed)")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str) -> str:
        preset(name)
        return name

    @model_validator(mode="after")
    def _consistent(self) -> ModelSettings:
        self.gpt_config(vocab_size=1)  # raises on heads that do not divide the width
        return self

    def gpt_config(self, vocab_size: int) -> GPTConfig:
        return preset(self.preset).config(padded_vocab(vocab_size, self.vocab_multiple), n_layer=self.n_layer,
                                          n_head=self.n_head, n_embd=self.n_embd, block_size=self.block_size,
                                          dropout=self.dropout)


class TrainSettings(BaseModel):
    """How to train. The fields in `NOT_IN_KEY` say how to run, not what comes out, and stay
    out of the output key: changing them reuses (or resumes) the same run.

    The defaults fit the CPU demo with the `tiny` preset. For GPT-2 124M on 8 GPUs, nanoGPT's
    values work: batch_tokens=524288, micro_batch_size=16 (H100: 32), lr=6e-4,
    warmup_steps=700, steps=19073 (10B tokens), weight_decay=0.1, compile=True.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    NOT_IN_KEY: ClassVar[frozenset[str]] = frozenset({
        "micro_batch_size", "eval_every", "eval_tokens", "checkpoint_every", "checkpoint_minutes",
        "keep_checkpoints", "log_every", "sample_prompts", "sample_tokens", "temperature", "top_k",
        "device", "precision", "compile", "processes", "prefetch_batches", "peak_flops",
    })

    # what is trained: in the key
    steps: int = Field(200, ge=1, description="Optimizer steps")
    batch_tokens: int = Field(2048, ge=1, description="Tokens per optimizer step, all processes together; "
                                                      "reached by gradient accumulation")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Final learning rate as a fraction of the peak")
    warmup_steps: int = Field(20, ge=0, description="Linear warmup, then cosine decay to the end")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0, description="Gradient norm clipping; 0 disables")
    seed: int = Field(1337, description="Model initialisation and data order")
    window_units: int = Field(4, ge=1, description="Row groups shuffled together by the data loader")

    # how it runs: not in the key
    micro_batch_size: int = Field(16, ge=1, description="Sequences per forward pass and process (memory)")
    eval_every: int = Field(50, ge=0, description="Validation loss every N steps (and at the end); 0: at the end only")
    eval_tokens: int = Field(65536, ge=1, description="Validation tokens per evaluation (capped at the split)")
    checkpoint_every: int = Field(50, ge=0, description="Checkpoint every N steps (and at the end); 0: by time only")
    checkpoint_minutes: float = Field(30.0, ge=0, description="Also checkpoint when this long has passed; 0: never")
    keep_checkpoints: int = Field(2, ge=1, description="Newest checkpoints kept in the output")
    log_every: int = Field(10, ge=1, description="Log a line every N steps")
    sample_prompts: list[str] = Field(default_factory=lambda: ["", "The"], description="Samples written at the end")
    sample_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.8, ge=0)
    top_k: int | None = Field(50, ge=1)
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, float32 on CPU")
    compile: bool = Field(False, description="torch.compile the model")
    processes: int = Field(1, ge=1, description="Data-parallel processes on this machine (torchrun, DDP)")
    prefetch_batches: int = Field(8, ge=1, description="Batches the loader reads ahead")
    peak_flops: float | None = Field(None, gt=0, description="Device peak FLOP/s for MFU (default: known GPUs)")


class TrainJob(StageJob):
    """One training run. `sources`: the committed outputs of the tokenize stage (any
    number of shards) and the one output of the tokenizer stage."""

    model: ModelSettings = Field(default_factory=ModelSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    shard: str = Field("run", description="The unit of work, named for people")

    @field_validator("sources")
    @classmethod
    def _canonical_order(cls, sources: list[OutputRef]) -> list[OutputRef]:
        # Tokenize shards finish in any order; the key must not depend on it.
        return sorted(sources, key=lambda r: (r.stage, r.shard or "", r.key, r.digest))

    def output_config(self) -> dict[str, Any]:
        config = super().output_config()
        config["train"] = {k: v for k, v in config["train"].items() if k not in TrainSettings.NOT_IN_KEY}
        return config

    @property
    def token_refs(self) -> list[OutputRef]:
        return [r for r in self.sources if r.stage == TOKENIZE_STAGE]

    @property
    def tokenizer_ref(self) -> OutputRef:
        refs = [r for r in self.sources if r.stage == TOKENIZER_STAGE]
        if len(refs) != 1:
            raise PermanentError(f"train needs exactly one {TOKENIZER_STAGE} output among its sources, got {len(refs)}")
        return refs[0]

    def split_files(self, split: str) -> list[str]:
        """Storage paths of the token shards of one split ("train", "validation")."""
        return sorted(r.path(f) for r in self.token_refs for f in r.files
                      if f.startswith(f"{split}-") and f.endswith(".parquet"))


def train_job(storage, tokens: list[OutputRef], tokenizer: OutputRef, model: ModelSettings | None = None,
              train: TrainSettings | None = None, shard: str = "run") -> TrainJob:
    """The job of one run on these token shards and that tokenizer."""
    return TrainJob(storage=storage, shard=shard, sources=[tokenizer, *tokens], model=model or ModelSettings(),
                    train=train or TrainSettings())


def train_gpt(job: TrainJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    """The stage function; torch is imported here, so cache hits and planning never load it."""
    from tasks.train_loop import train_gpt as train

    return train(job, out, ctx)


TRAIN = Stage(name="train", version="1", work=train_gpt, resumable=True)
train_task = stage_task(TRAIN, retries=2, retry_delay_s=5.0)


# reading a committed run: for `fineflow sample` and `fineflow export`


def find_train_output(store: Store, train: OutputRef | str | None = None) -> StageOutput:
    """A committed train output: by ref, by key (or `train/{key}`), or the newest one."""
    if isinstance(train, OutputRef):
        output = store.output(train.stage, train.key)
    elif train:
        output = store.output(TRAIN.name, train.strip("/").split("/")[-1])
    else:
        committed = [(m.finished_at, o) for o in store.outputs(TRAIN.name) if (m := o.committed()) is not None]
        if not committed:
            raise FileNotFoundError(f"no committed train output under {store.uri()}")
        output = max(committed, key=lambda pair: pair[0])[1]
    if output.committed() is None:
        raise FileNotFoundError(f"{output.uri()} is not a committed train output")
    return output
