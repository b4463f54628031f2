"""Tokenize stage vs bare `Tokenizer.encode_batch`, side by side, on the same texts.

    python -m bench.tokenize [--mb 32] [--vocab 16384] [--batch-size 1024] [--repeat 5] [--threads N]

The documents are made from the sample crawl's paragraphs (every language of it),
shuffled into documents of 3-15 paragraphs, and written as one documents output. A
tokenizer is trained on them by the tokenizer stage. Then `--repeat` rounds, each
running these one after the other:

- bare: `encode_batch` (and `encode_batch_fast`) over the texts already in memory, in
  batches of `--batch-size`; nothing read, nothing kept;
- ours: the tokenize stage from committed documents to committed token shards: reading
  Parquet, encoding, the split, Arrow conversion, zstd Parquet writing, the manifest.

Rates count the same tokens for both (the text's tokens, not the <|endoftext|> the
stage appends). The table shows each one's best time; the headline ratio is the median
of the rounds' ratios, steadier where other work shares the machine. `--memory` also
runs the stage alone in a child process and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from storage import StorageConfig, Store
from storage.parquet import DOCUMENTS, ShardWriter
from tasks.stage import OutputRef, Stage, StageJob, StageResult
from tasks.tokenize import TOKENIZE, TokenizeSettings, prepare_tokenizer, tokenize_jobs
from tasks.tokenizer import TOKENIZER, TokenizerSettings, load_tokenizer, size_thread_pool, tokenizer_job

REPO = Path(__file__).resolve().parent.parent


class CorpusJob(StageJob):
    mb: int
    seed: int = 0


def write_corpus(job: CorpusJob, out, ctx) -> StageResult:
    """`mb` MB of documents made of the sample crawl's paragraphs, in every language of it."""
    records = json.loads((REPO / "sample" / "crawl" / "expected.json").read_text())
    paragraphs = [p for r in records if r.get("paragraphs") for p in r["paragraphs"]]
    rng = random.Random(job.seed)
    written = n = 0
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=50_000) as shards:
        while written < job.mb * 1_000_000:
            text = "\n".join(rng.choices(paragraphs, k=rng.randint(3, 15)))
            shards.write({"id": f"bench-{n:09d}", "url": None, "crawl": None, "warc_path": None, "date": None,
                          "language": None, "language_score": None, "text": text})
            written += len(text.encode())
            n += 1
    return StageResult(counts={"documents": n, "bytes": written})


CORPUS = Stage(name="documents", version="1", work=write_corpus)


def texts_of(store: Store, ref: OutputRef) -> list[str]:
    return [text for name in ref.files
            for text in pq.read_table(store.path(ref.path(name)), columns=["text"]).column("text").to_pylist()]


def timed(run) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, what `run` returned)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def bare(tokenizer, texts: list[str], batch_size: int, fast: bool) -> int:
    encode = tokenizer.encode_batch_fast if fast else tokenizer.encode_batch
    tokens = 0
    for i in range(0, len(texts), batch_size):
        tokens += sum(len(e) for e in encode(texts[i:i + batch_size], add_special_tokens=False))
    return tokens


def ours(storage: StorageConfig, documents: OutputRef, tokenizer: OutputRef, settings: TokenizeSettings) -> OutputRef:
    """One fresh run of the stage: its output from an earlier run is removed first."""
    job = tokenize_jobs(storage, [documents], tokenizer, settings)[0]
    Store(storage).rm(TOKENIZE.output(job).dir, recursive=True)
    ref = TOKENIZE.run(job)
    assert not ref.reused
    return ref


def child_peak_rss(root: str, documents: OutputRef, tokenizer: OutputRef, settings: TokenizeSettings) -> dict:
    code = (
        "import json, sys\n"
        "from bench.tokenize import ours\n"
        "from storage import StorageConfig\n"
        "from tasks.stage import OutputRef\n"
        "from tasks.tokenize import TokenizeSettings\n"
        "root, docs, tok, settings = json.loads(sys.stdin.read())\n"
        "def rss(field):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(field):\n"
        "            return int(line.split()[1]) / 1024\n"
        "before = rss('VmRSS:')\n"
        "ours(StorageConfig(root=root), OutputRef(**docs), OutputRef(**tok), TokenizeSettings(**settings))\n"
        "print(json.dumps({'before_mb': before, 'peak_mb': rss('VmHWM:')}))\n"
    )
    payload = json.dumps([root, documents.model_dump(), tokenizer.model_dump(), settings.model_dump()])
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, check=True,
                         cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=32, help="MB of document text (default 32)")
    parser.add_argument("--vocab", type=int, default=16384, help="vocabulary size (default 16384)")
    parser.add_argument("--batch-size", type=int, default=1024, help="documents per encode_batch (default 1024)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of timed runs (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="encoding threads (default: every core)")
    parser.add_argument("--memory", action="store_true", help="also measure the stage's peak RSS in a child process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    threads = size_thread_pool(args.threads, logging.getLogger("bench"))  # before anything encodes

    with tempfile.TemporaryDirectory(prefix="ff-bench-tok-") as tmp:
        storage = StorageConfig(root=tmp)
        store = Store(storage)
        started = time.perf_counter()
        documents = CORPUS.run(CorpusJob(storage=storage, shard="bench", mb=args.mb))
        tokenizer_ref = TOKENIZER.run(tokenizer_job(storage, [documents], TokenizerSettings(
            vocab_size=args.vocab, sample_bytes=16 * 2**20)))
        tokenizer, _ = prepare_tokenizer(load_tokenizer(store, tokenizer_ref))
        texts = texts_of(store, documents)
        mb = documents.counts["bytes"] / 1e6
        print(f"{documents.counts['documents']:,} documents, {mb:.1f} MB of text in {len(documents.files)} files; "
              f"vocabulary {tokenizer_ref.counts['vocab_size']}; {threads} threads; batch {args.batch_size}; "
              f"prepared in {time.perf_counter() - started:.1f} s")

        settings = TokenizeSettings(batch_size=args.batch_size, threads=args.threads)
        runs = {
            "bare Tokenizer.encode_batch": lambda: bare(tokenizer, texts, args.batch_size, fast=False),
            "bare Tokenizer.encode_batch_fast": lambda: bare(tokenizer, texts, args.batch_size, fast=True),
            "fineflow tokenize stage": lambda: ours(storage, documents, tokenizer_ref, settings),
        }
        best: dict[str, tuple[float, float]] = {name: (float("inf"), 0.0) for name in runs}
        rounds: list[list[float]] = []
        tokens = 0
        for _ in range(args.repeat):  # interleaved, so that a busy moment of the machine hits all alike
            rounds.append([])
            for name, run in runs.items():
                wall, cpu, result = timed(run)
                best[name] = min(best[name], (wall, cpu))
                rounds[-1].append(wall)
                if isinstance(result, int):
                    tokens = result
                else:  # the stage's tokens, less the <|endoftext|> it appends, are the bare ones
                    assert result.counts["tokens_train"] + result.counts["tokens_validation"] \
                        - result.counts["documents"] == tokens
        memory = child_peak_rss(tmp, documents, tokenizer_ref, settings) if args.memory else None

    print(f"{'':<36}{'seconds':>9}{'CPU s':>8}{'MB/s':>8}{'tokens/s':>12}")
    for name, (wall, cpu) in best.items():
        print(f"{name:<36}{wall:>9.2f}{cpu:>8.2f}{mb / wall:>8.2f}{tokens / wall:>12,.0f}")
    print(f"{tokens:,} tokens, {mb * 1e6 / tokens:.2f} bytes per token")
    walls = [wall for wall, _ in best.values()]
    per_round = sorted(r[0] / r[2] for r in rounds)
    median = per_round[len(per_round) // 2]
    # Each round's ratio compares runs made moments apart; on a shared machine the median of
    # those is steadier than a ratio of two best times that may come from different moments.
    print(f"ratio (ours / bare encode_batch, tokens/s), median of rounds: {median:.2f}  (target >= 0.8)")
    print(f"  each round: {', '.join(f'{x:.2f}' for x in per_round)}; of the best times: {walls[0] / walls[2]:.2f}")
    print(f"ratio (ours / bare encode_batch_fast), of the best times: {walls[1] / walls[2]:.2f}")
    cpus = [cpu for _, cpu in best.values()]
    print(f"CPU seconds, ours / bare encode_batch: {cpus[2] / cpus[0]:.2f} (the work added, whatever else runs)")
    if memory:
        print(f"peak RSS of a process tokenizing {mb:.0f} MB: {memory['peak_mb']:.0f} MB "
              f"({memory['before_mb']:.0f} MB before the stage, imports done)")


if __name__ == "__main__":
    main()
