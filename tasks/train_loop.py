"""The training loop of the train stage (`tasks/train.py` holds its settings and job):
AdamW with warmup and cosine decay, gradient accumulation to a token batch, clipping,
bf16 autocast on CUDA, checkpoints that let an interrupted attempt continue exactly, and,
under torchrun, DDP.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tokenizers import Tokenizer

from models.checkpoint import (checkpoint_name, is_checkpoint_file, load_latest, read_checkpoint, save_checkpoint,
                               sidecar_name)
from models.data import TokenLoader, scan_units
from models.gpt import GPT
from models.metrics import flops_per_token, mfu, peak_flops
from models.sampling import EOT, sample
from storage import OutputWriter, StageOutput
from tasks.stage import PermanentError, StageContext, StageResult
from tasks.train import LOSS_PLOT_FILE, METRICS_FILE, SAMPLES_FILE, TOKENIZER_FILE, TrainJob


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> World:
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
        return cls()


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to `min_ratio` at `total`."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


@dataclass(frozen=True)
class BatchPlan:
    """How the global batch splits over processes and accumulation steps."""

    sequences: int  # per optimizer step, all processes
    micro: int  # per forward pass and process
    accum: int  # forward passes per optimizer step and process
    tokens: int  # per optimizer step, all processes

    @classmethod
    def make(cls, batch_tokens: int, seq_len: int, world: int, micro_max: int) -> BatchPlan:
        per_rank = max(1, round(batch_tokens / seq_len / world))
        # The largest micro batch that divides the share evenly: every forward pass then
        # weighs the same, and the sum of their gradients is the full batch's.
        micro = max(d for d in range(1, min(micro_max, per_rank) + 1) if per_rank % d == 0)
        return cls(per_rank * world, micro, per_rank // micro, per_rank * world * seq_len)


METRIC_FIELDS = ("step", "tokens", "loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "mfu", "elapsed_s")


def metrics_table_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("step", pa.int64()), ("tokens", pa.int64())]
                       + [(f, pa.float64()) for f in METRIC_FIELDS[2:]])
    table = pa.Table.from_pylist([{f: r.get(f) for f in METRIC_FIELDS} for r in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def loss_plot_png(rows: list[dict[str, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train", linewidth=1)
    val = [r for r in rows if r.get("val_loss") is not None]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    sink = io.BytesIO()
    fig.savefig(sink, format="png")
    return sink.getvalue()


def _write(writer: OutputWriter, name: str, data: bytes) -> None:
    if any(f.path == name for f in writer.files):
        writer.forget(name)
    with writer.open(name) as f:
        f.write(data)


def _all_reduce_sum(tensor: torch.Tensor, world: World) -> torch.Tensor:
    if world.size > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


# The test suite replaces this to interrupt a run after a given step, as a kill would.
def _after_step(step: int) -> None:
    return None


# the work


def train_gpt(job: TrainJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    """The stage function: train in this process, or launch `processes` of them with torchrun."""
    if job.train.processes > 1 and not (dist.is_available() and dist.is_initialized()):
        return launch_ddp(job, out, ctx)
    return run_training(job, out.output, out, ctx)


def run_training(job: TrainJob, output: StageOutput, writer: OutputWriter | None, ctx: StageContext) -> StageResult:
    """Train (or continue training) the run of `job` in `output`.

    Every process of a DDP run calls this; only the main one is given a `writer`, and only
    it writes. Without torch.distributed initialised it is a single process.
    """
    s = job.train
    world = World.current()
    log = ctx.logger
    device = pick_device(s.device, world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in float32
    bf16 = s.precision == "bfloat16" or (s.precision == "auto" and device.type == "cuda")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
    store = output.store

    tokenizer_json = store.read_bytes(job.tokenizer_ref.path(TOKENIZER_FILE)).decode()
    tokenizer = Tokenizer.from_str(tokenizer_json)
    eot = tokenizer.token_to_id(EOT)
    if eot is None:
        raise PermanentError(f"the tokenizer has no {EOT} token, which separates documents")
    config = job.model.gpt_config(tokenizer.get_vocab_size())
    seq_len = config.block_size
    plan = BatchPlan.make(s.batch_tokens, seq_len, world.size, s.micro_batch_size)
    if plan.tokens != s.batch_tokens:
        log.warning("batch of %d tokens asked, %d used (%d sequences of %d over %d process(es))",
                    s.batch_tokens, plan.tokens, plan.sequences, seq_len, world.size)

    train_files, val_files = job.split_files("train"), job.split_files("validation")
    if not train_files:
        raise PermanentError(f"no train-*.parquet token shards among {len(job.token_refs)} tokenize output(s)")
    try:
        train_units = scan_units(store, train_files)
        train_loader = TokenLoader(store, train_files, seq_len=seq_len, batch_size=plan.micro, seed=s.seed,
                                   rank=world.rank, world_size=world.size, window_units=s.window_units,
                                   prefetch_batches=s.prefetch_batches, device=device, units=train_units)
    except ValueError as exc:
        raise PermanentError(f"training data: {exc}") from None
    val_loader, eval_batches = None, 0
    val_units = scan_units(store, val_files) if val_files else []
    val_tokens = sum(u.tokens for u in val_units)
    if val_tokens > seq_len:
        val_loader = TokenLoader(store, val_files, seq_len=seq_len, batch_size=plan.micro, seed=s.seed,
                                 rank=world.rank, world_size=world.size, shuffle=False, device=device,
                                 prefetch_batches=s.prefetch_batches, units=val_units)
        group = plan.micro * world.size
        wanted = max(1, round(s.eval_tokens / seq_len / group))
        eval_batches = max(1, min(wanted, (val_tokens - 1) // seq_len // group))
    elif world.main:
        log.warning("validation split has %d tokens, fewer than one sequence of %d: no validation loss",
                    val_tokens, seq_len)

    torch.manual_seed(s.seed)  # the same initial weights in every process
    model = GPT(config).to(device)
    n_params = model.num_params()
    optimizer = torch.optim.AdamW(model.parameter_groups(s.weight_decay), lr=s.lr, betas=(s.beta1, s.beta2),
                                  fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, s.warmup_steps, s.steps, s.min_lr_ratio))
    random.seed(s.seed + world.rank)
    torch.manual_seed(s.seed + world.rank)  # dropout differs between processes, as it must

    # Resume from the newest good checkpoint an earlier attempt left.
    names = store.listdir(output.dir)
    state, chosen = None, -1
    if world.main:
        state, info, _ = load_latest(store, output.dir, log, names=names)
        chosen = info.step if info else -1
    if world.size > 1:
        box = [chosen]
        dist.broadcast_object_list(box, src=0)
        chosen = box[0]
        if chosen >= 0 and not world.main:
            state, _ = read_checkpoint(store, output.dir, chosen, verify=False)
    metrics: list[dict[str, Any]] = []
    step, elapsed_before = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        train_loader.load_state_dict(state["loader"])
        rng = state["rng"]
        if len(rng) == world.size:
            torch.set_rng_state(rng[world.rank]["torch"])
            if device.type == "cuda" and rng[world.rank].get("cuda") is not None:
                torch.cuda.set_rng_state(rng[world.rank]["cuda"], device)
            random.setstate(rng[world.rank]["python"])
        metrics = list(state["metrics"])
        step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        if world.main:
            log.info("train %s: resuming at step %d of %d from %s", job.label, step, s.steps,
                     output.uri(checkpoint_name(step)))
        del state
    elif world.main:
        log.info("train %s: %s model, %.2fM parameters, %d steps of %d tokens (%d x %d sequences x %d accumulation"
                 " x %d process(es)), %s%s, %d train tokens in %d row groups", job.label, job.model.preset,
                 n_params / 1e6, s.steps, plan.tokens, plan.micro, seq_len, plan.accum, world.size, device,
                 " bf16" if bf16 else "", train_loader.tokens_per_epoch, len(train_units))

    kept: list[int] = []
    if writer is not None:
        # Keep the checkpoint resumed from; older and broken ones, and any a killed attempt
        # was halfway through writing, go.
        for name in names:
            if is_checkpoint_file(name) and name not in (checkpoint_name(chosen), sidecar_name(chosen)):
                writer.forget(name)
        if chosen >= 0:
            writer.adopt(checkpoint_name(chosen))
            writer.adopt(sidecar_name(chosen))
            kept.append(chosen)
        _write(writer, TOKENIZER_FILE, tokenizer_json.encode())

    net: torch.nn.Module = torch.compile(model) if s.compile else model
    ddp = None
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    trainer = ddp or net
    flops_token = flops_per_token(config, n_params)
    peak = s.peak_flops or peak_flops(device)

    def evaluate() -> float | None:
        if val_loader is None:
            return None
        model.eval()
        val_loader.reset()
        total = torch.zeros(2, device=device, dtype=torch.float64)
        with torch.no_grad():
            for _ in range(eval_batches):
                x, y = val_loader.next_batch()
                with autocast():
                    _, loss = net(x, y)
                total += torch.stack([loss.double() * y.numel(), torch.tensor(y.numel(), device=device,
                                                                              dtype=torch.float64)])
        val_loader.close()
        model.train()
        total = _all_reduce_sum(total, world)
        return float(total[0] / total[1])

    def checkpoint(at: int) -> None:
        rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
               "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        ranks_rng = [None] * world.size
        if world.size > 1:
            dist.all_gather_object(ranks_rng, rng)
        else:
            ranks_rng = [rng]
        if writer is None:
            return
        last = metrics[-1] if metrics else {}
        payload = {
            "format": 1, "step": at, "model_config": config.to_dict(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "loader": train_loader.state_dict(), "rng": ranks_rng, "metrics": metrics, "world_size": world.size,
            "elapsed_s": elapsed_before + (time.perf_counter() - t_start),
            "tokenizer": {"vocab_size": tokenizer.get_vocab_size(), "eot_id": eot},
        }
        save_checkpoint(writer, at, payload, meta={"tokens": last.get("tokens", 0), "loss": last.get("loss"),
                                                  "val_loss": last.get("val_loss")})
        kept.append(at)
        while len(kept) > s.keep_checkpoints:
            old = kept.pop(0)
            writer.forget(checkpoint_name(old))
            writer.forget(sidecar_name(old))
        _write(writer, METRICS_FILE, metrics_table_bytes(metrics))
        log.info("train %s: checkpoint of step %d written to %s", job.label, at, output.uri(checkpoint_name(at)))

    t_start = time.perf_counter()
    last_checkpoint_at, last_saved = time.monotonic(), (chosen if chosen >= 0 else None)
    if world.main:
        ctx.progress(step, s.steps, unit="step")
    model.train()
    try:
        while step < s.steps:
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            for micro_step in range(plan.accum):
                x, y = train_loader.next_batch()
                sync = ddp is None or micro_step == plan.accum - 1
                with nullcontext() if sync else ddp.no_sync():
                    with autocast():
                        _, loss = trainer(x, y)
                    (loss / plan.accum).backward()
                loss_sum += loss.detach()
            max_norm = s.grad_clip if s.grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            # One small collective per step carries the loss for the log and the main
            # process's decision to checkpoint by time, which every process must share.
            due = world.main and s.checkpoint_minutes > 0 and \
                time.monotonic() - last_checkpoint_at >= 60 * s.checkpoint_minutes
            shared = _all_reduce_sum(torch.stack([loss_sum / plan.accum,
                                                  torch.tensor(float(due), device=device)]), world).tolist()
            loss_value, due = shared[0] / world.size, shared[1] > 0
            dt = time.perf_counter() - t0
            row = {"step": step, "tokens": step * plan.tokens, "loss": loss_value, "val_loss": None, "lr": lr,
                   "grad_norm": float(grad_norm), "tokens_per_s": plan.tokens / dt,
                   "mfu": mfu(plan.tokens / dt, flops_token, peak, world.size),
                   "elapsed_s": elapsed_before + time.perf_counter() - t_start}
            if step == s.steps or (s.eval_every and step % s.eval_every == 0):
                row["val_loss"] = evaluate()
            metrics.append(row)
            if world.main:
                ctx.progress(step, s.steps, unit="step")
                if step % s.log_every == 0 or step == s.steps or row["val_loss"] is not None:
                    log.info("train %s: step %d/%d loss %.4f%s lr %.2e %s tok/s%s", job.label, step, s.steps,
                             loss_value, f" val {row['val_loss']:.4f}" if row["val_loss"] is not None else "",
                             lr, f"{row['tokens_per_s']:,.0f}",
                             f" mfu {100 * row['mfu']:.1f}%" if row["mfu"] is not None else "")
            if not math.isfinite(loss_value):
                # Deterministic from the last checkpoint on: a retry would diverge again.
                raise PermanentError(f"loss is {loss_value} at step {step}; lower the learning rate")
            if step == s.steps or (s.checkpoint_every and step % s.checkpoint_every == 0) or due:
                checkpoint(step)
                last_checkpoint_at, last_saved = time.monotonic(), step
            _after_step(step)
        if last_saved != step:
            checkpoint(step)
    finally:
        train_loader.close()
        if val_loader is not None:
            val_loader.close()

    result = StageResult(
        counts={"steps": step, "tokens": step * plan.tokens, "parameters": n_params},
        extra={"checkpoint": checkpoint_name(step), "model": config.to_dict(), "preset": job.model.preset,
               "processes": world.size, "device": str(device.type), "bf16": bf16,
               "loss": metrics[-1]["loss"] if metrics else None,
               "val_loss": next((r["val_loss"] for r in reversed(metrics) if r.get("val_loss") is not None), None)},
    )
    if writer is not None:
        _finish(job, writer, ctx, model, tokenizer, metrics, result, plan)
    return result


def _finish(job: TrainJob, writer: OutputWriter, ctx: StageContext, model: GPT, tokenizer: Tokenizer,
            metrics: list[dict[str, Any]], result: StageResult, plan: BatchPlan) -> None:
    """Samples, the metrics table, the loss curve, and the Prefect artifacts."""
    s = job.train
    texts = [sample(model, tokenizer, prompt, max_new_tokens=s.sample_tokens, temperature=s.temperature,
                    top_k=s.top_k, seed=s.seed + i) for i, prompt in enumerate(s.sample_prompts)]
    body = "".join(f"--- prompt {p!r}\n{t}\n\n" for p, t in zip(s.sample_prompts, texts))
    _write(writer, SAMPLES_FILE, body.encode())
    _write(writer, METRICS_FILE, metrics_table_bytes(metrics))
    png = loss_plot_png(metrics, f"{job.model.preset}, {result.counts['parameters'] / 1e6:.2f}M parameters")
    _write(writer, LOSS_PLOT_FILE, png)
    result.extra["samples"] = texts

    timed = [r for r in metrics if r.get("tokens_per_s")]
    tokens_per_s = sorted(r["tokens_per_s"] for r in timed)[len(timed) // 2] if timed else None
    mfus = sorted(r["mfu"] for r in timed if r.get("mfu") is not None)
    result.extra["tokens_per_s"] = tokens_per_s
    result.extra["mfu"] = mfus[len(mfus) // 2] if mfus else None
    summary = {"steps": result.counts["steps"], "tokens": result.counts["tokens"],
               "parameters": result.counts["parameters"], "final loss": result.extra["loss"],
               "validation loss": result.extra["val_loss"], "tokens/s (median)": tokens_per_s,
               "MFU (median)": result.extra["mfu"], "batch tokens": plan.tokens,
               "processes": result.extra["processes"], "device": result.extra["device"]}
    ctx.table("train-summary", [summary], description=f"train {job.label}: {job.model.preset}")
    import base64

    ctx.markdown("train-report", "\n".join([
        f"# train {job.label}",
        f"![loss curve](data:image/png;base64,{base64.b64encode(png).decode()})",
        f"Loss curve also at `{writer.output.uri(LOSS_PLOT_FILE)}`.",
        "## Samples",
        *(f"**{p!r}**\n\n```\n{t}\n```" for p, t in zip(s.sample_prompts, texts)),
    ]), description="loss curve and samples")


# DDP through torchrun, launched from the task


def _job_file_json(job: TrainJob) -> str:
    """The job as JSON for the worker processes, storage credentials included (pydantic
    masks secrets when dumping); the file lives in a private temporary folder."""
    data = json.loads(job.model_dump_json())
    for name in ("key", "secret"):
        secret = getattr(job.storage, name)
        if secret is not None:
            data["storage"][name] = secret.get_secret_value()
    return json.dumps(data)


# Lines of a failed torchrun's output that say what went wrong: a process's own error (a
# Python exception, a C++ abort) and the summary torchrun ends with (rank, exit code, signal).
_ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:)?\s*(?:(?!\S*ChildFailedError)[\w.]*(?:Error|Exception)(?::|$)"
                         r"|terminate called|what\(\)|Fatal Python|rank\s*:|exitcode\s*:|traceback\s*:)")


def launch_ddp(job: TrainJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    """Run `job.train.processes` processes with torchrun on this machine; the main one
    writes the files, which this attempt then adopts into its output."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="fineflow-train-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(_job_file_json(job))
        os.chmod(job_path, 0o600)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(job.train.processes),
               "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "tasks.train_ddp",
               "--result", str(result_path), str(job_path)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH")) if p)}
        if not torch.cuda.is_available():
            # CPU processes share the cores; without this each would start a thread per core.
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // job.train.processes)))
        ctx.logger.info("train %s: launching %d processes with torchrun", job.label, job.train.processes)
        errors: list[str] = []
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            for line in proc.stdout:
                line = line.rstrip()
                if _ERROR_LINE.search(line):
                    errors.append(line.strip())
                ctx.logger.info("%s", line)
        if proc.returncode != 0 or not result_path.exists():
            # torchrun's own summary ends the output; the cause is in what the failed process said.
            said = list(dict.fromkeys(errors)) or ["no error in its output"]
            if len(said) > 12:
                said = said[:6] + ["..."] + said[-6:]
            message = f"torchrun exited with {proc.returncode}: " + " | ".join(said)
            # A process that found the job itself wrong fails the same way on a retry.
            permanent = any(f"{PermanentError.__name__}: " in line for line in errors)
            raise (PermanentError if permanent else RuntimeError)(message)
        result = json.loads(result_path.read_text())
    for name in result["files"]:
        out.adopt(name)
    return StageResult(counts=result["counts"], extra=result["extra"])
