"""Training throughput (and MFU on CUDA) per preset, and the data loader alone.

    python -m bench.train                                  # tiny and gpt2 at context 1024
    python -m bench.train --presets gpt2 --compile --micro-batch 32 --seconds 60   # an H100

For each preset: the training step the train stage runs (forward, backward, gradient
clipping, AdamW; bf16 autocast, fused AdamW and TF32 on CUDA; float32 on CPU) timed
twice, once fed by the token loader from Parquet shards and once from a batch already in
memory, and the loader alone on the same shards at the same geometry. The loader must
outrun training by a wide margin (goal: 2x) so the model never waits for data; on an H100
the goal for `gpt2` is 40% MFU in bf16 with --compile.

The shards are synthetic (random token ids, documents of random lengths); throughput does
not depend on the values.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import nullcontext

import numpy as np
import pyarrow as pa
import torch

from models.data import TokenLoader
from models.gpt import GPT
from models.metrics import flops_per_token, mfu, peak_flops
from models.presets import padded_vocab, preset
from storage import Store
from storage.parquet import ShardWriter, tokens_schema


def write_shards(store: Store, tokens: int, vocab: int, seed: int = 0) -> list[str]:
    """About `tokens` tokens in documents of ~1,000 tokens (log-normal lengths)."""
    rng = np.random.default_rng(seed)
    writer = store.output("tokenize", "bench").begin()
    files: list[str] = []
    schema = tokens_schema(vocab)
    with ShardWriter(writer, "train", schema, max_rows=20_000, row_group_rows=2_000) as shards:
        written = 0
        while written < tokens:
            lengths = np.clip(rng.lognormal(6.5, 1.0, 2_000).astype(np.int64), 16, 20_000)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            values = rng.integers(0, vocab, int(offsets[-1]), dtype=np.uint16 if vocab <= 2**16 else np.uint32)
            ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
            shards.write_batch(pa.table({"doc_id": [f"d{written}-{i}" for i in range(len(lengths))],
                                         "input_ids": ids, "n_tokens": pa.array(lengths, pa.int32())},
                                        schema=schema))
            written += int(offsets[-1])
        files = [f"tokenize/bench/{f}" for f in shards.files]
    return files


def bench_loader(store: Store, files: list[str], seq_len: int, batch: int, seconds: float) -> float:
    """Tokens per second the loader hands out, reading ahead as in training."""
    loader = TokenLoader(store, files, seq_len=seq_len, batch_size=batch, seed=0)
    loader.next_batch()  # the first window is read before the clock starts
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x, _ = loader.next_batch()
        n += x.numel()
    rate = n / (time.perf_counter() - start)
    loader.close()
    return rate


def bench_training(name: str, store: Store, files: list[str], vocab: int, micro: int, device: torch.device,
                   compile_model: bool, seconds: float, warmup: int) -> dict:
    config = preset(name).config(padded_vocab(vocab))
    torch.manual_seed(0)
    model = GPT(config).to(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.set_float32_matmul_precision("high")
    optimizer = torch.optim.AdamW(model.parameter_groups(0.1), lr=1e-4, betas=(0.9, 0.95), fused=cuda)
    net = torch.compile(model) if compile_model else model
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext
    loader = TokenLoader(store, files, seq_len=config.block_size, batch_size=micro, seed=0, device=device)
    fixed = loader.next_batch()

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        with autocast():
            _, loss = net(*batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(source) -> float:
        for _ in range(warmup):  # compilation, allocator and cache warm-up
            step(source())
        if cuda:
            torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while True:
            step(source())
            n += micro * config.block_size
            if cuda:
                torch.cuda.synchronize()
            if time.perf_counter() - start >= seconds:
                return n / (time.perf_counter() - start)

    fed = timed(loader.next_batch)
    in_memory = timed(lambda: fixed)
    loader.close()
    n_params = model.num_params()
    peak = peak_flops(device)
    per_token = flops_per_token(config, n_params)
    return {"preset": name, "context": config.block_size, "micro": micro, "params_m": n_params / 1e6,
            "fed": fed, "in_memory": in_memory, "mfu": mfu(fed, per_token, peak),
            "gflop_per_token": per_token / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,gpt2", help="comma-separated (default tiny,gpt2)")
    parser.add_argument("--micro-batch", type=int, help="sequences per step (default: 16 for tiny; gpt2: 16 on "
                                                         "CUDA, 1 on CPU)")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 3; 1 for gpt2 on CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--tokens", type=float, default=30e6, help="tokens of synthetic shards (default 30M)")
    parser.add_argument("--vocab", type=int, default=50257, help="vocabulary (default GPT-2's 50257)")
    args = parser.parse_args()

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; compile={args.compile}; "
          f"{'bf16 autocast' if device.type == 'cuda' else 'float32'}")
    with tempfile.TemporaryDirectory(prefix="ff-bench-train-") as tmp:
        store = Store(tmp)
        started = time.perf_counter()
        files = write_shards(store, int(args.tokens), args.vocab)
        print(f"wrote {args.tokens / 1e6:.0f}M tokens in {len(files)} shards in {time.perf_counter() - started:.1f} s")
        rows = []
        for name in args.presets.split(","):
            big = preset(name).n_embd >= 768
            micro = args.micro_batch or (16 if device.type == "cuda" or not big else 1)
            warmup = args.warmup if args.warmup is not None else (1 if big and device.type == "cpu" else 3)
            row = bench_training(name, store, files, args.vocab, micro, device, args.compile, args.seconds, warmup)
            row["loader"] = bench_loader(store, files, row["context"], micro, args.seconds)
            rows.append(row)
            print(f"  {name}: done")

    print(f"\n{'preset':<8}{'ctx':>6}{'batch':>6}{'params':>9}{'train tok/s':>13}{'in-mem tok/s':>14}"
          f"{'MFU':>7}{'loader tok/s':>14}{'loader/train':>14}")
    for r in rows:
        mfu_text = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        print(f"{r['preset']:<8}{r['context']:>6}{r['micro']:>6}{r['params_m']:>8.1f}M{r['fed']:>13,.0f}"
              f"{r['in_memory']:>14,.0f}{mfu_text:>7}{r['loader']:>14,.0f}{r['loader'] / r['fed']:>13.0f}x")
    slow = [r["preset"] for r in rows if r["loader"] < 2 * r["fed"]]
    print("loader at least 2x faster than training: " + ("yes" if not slow else f"NO for {', '.join(slow)}"))
    for r in rows:
        if r["fed"] < 0.95 * r["in_memory"]:
            print(f"note: {r['preset']} trains {100 * (1 - r['fed'] / r['in_memory']):.0f}% slower fed by the loader "
                  f"than from memory")
    if device.type == "cuda":
        gpt2 = [r for r in rows if r["preset"] == "gpt2" and r["mfu"] is not None]
        if gpt2:
            print(f"gpt2 MFU {100 * gpt2[0]['mfu']:.1f}% (goal on an H100 in bf16 with --compile: 40%)")


if __name__ == "__main__":
    main()
