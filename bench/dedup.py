"""Dedup stage vs datatrove's four MinHash stages run directly, side by side, on the same documents.

    python -m bench.dedup [--scale 10] [--shards 4] [--repeat 1] [--memory]

The documents are `--scale` times the sample crawl's pages (its 278 HTML pages, every
language, text from expected.json): each page as it is, then an exact copy under another
URL, a near-duplicate (3% of its words replaced), and `scale - 3` distinct rewrites (40% of
the words replaced; their 5-gram Jaccard with the page is below 0.1). They are dealt into
`--shards` documents outputs. Then, from those committed Parquet files to committed
Parquet files, one process each:

- datatrove: `MinhashDedupSignature` per shard, `MinhashDedupBuckets` per bucket (14),
  `MinhashDedupCluster`, `MinhashDedupFilter` per shard, reading with datatrove's
  `ParquetReader` and writing kept and removed documents with its `ParquetWriter`. Its
  shingle hash is given UTF-8 bytes (datatrove 0.10 passes `str`, which xxhash 4 refuses:
  huggingface/datatrove#508); nothing else is changed.
- fineflow near-only: our three stages with `exact: false`, the same work as datatrove's;
- fineflow: our three stages with the defaults (exact hashes, then MinHash).

Both compute the same signatures, so the near-only run must remove as many documents
as datatrove's (the bench checks it). `--memory` runs our stages again in a child process
and reports its peak RSS, with and without the imports, and Python's traced peak.
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

from storage import StorageConfig, Store
from storage.parquet import DOCUMENTS, ShardWriter
from tasks.dedup import CLUSTERS, DEDUP, SIGNATURES, DedupSettings, plan_dedup, run_dedup
from tasks.stage import OutputRef, Stage, StageJob, StageResult

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 2, 20, tzinfo=timezone.utc)


class CorpusJob(StageJob):
    scale: int
    part: int
    parts: int
    seed: int = 0


def corpus_documents(scale: int, seed: int = 0) -> list[dict]:
    records = json.loads((REPO / "sample" / "crawl" / "expected.json").read_text())
    pages = [r for r in records if r.get("paragraphs")]
    vocabulary = sorted({w for r in pages for p in r["paragraphs"] for w in p.split()})
    rng = random.Random(seed)

    def rewrite(text: str, share: float) -> str:
        return " ".join(rng.choice(vocabulary) if rng.random() < share else w for w in text.split(" "))

    docs = []
    for i, page in enumerate(pages):
        text = "\n".join(page["paragraphs"])
        for k in range(scale):
            body = text if k <= 1 else rewrite(text, 0.03 if k == 2 else 0.4)
            docs.append({"id": f"bench-{i:04d}-{k:02d}", "url": f"{page['url']}?copy={k}", "crawl": "CC-MAIN-BENCH",
                         "warc_path": page["warc"], "date": T0 + timedelta(minutes=k), "language": page["language"],
                         "language_score": 0.9, "text": body})
    rng.shuffle(docs)
    return docs


def write_corpus(job: CorpusJob, out, ctx) -> StageResult:
    docs = corpus_documents(job.scale, job.seed)[job.part::job.parts]
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=50_000) as shards:
        for doc in docs:
            shards.write(doc)
    chars = sum(len(d["text"]) for d in docs)
    return StageResult(counts={"read": len(docs), "kept": len(docs), "chars": chars})


CORPUS = Stage(name="filter", version="bench", work=write_corpus)


def corpus(storage: StorageConfig, scale: int, shards: int) -> list[OutputRef]:
    return [CORPUS.run(CorpusJob(storage=storage, scale=scale, part=i, parts=shards,
                                 shard=f"crawl-data/CC-MAIN-BENCH/segments/0/warc/bench-{i:05d}.warc.gz"))
            for i in range(shards)]


def ours(storage: StorageConfig, refs: list[OutputRef], settings: DedupSettings) -> dict[str, float]:
    """One fresh run of our three stages (earlier outputs removed); seconds per stage."""
    store = Store(storage)
    for stage in (SIGNATURES, CLUSTERS, DEDUP):
        store.rm(stage.name, recursive=True)
    plan = plan_dedup(storage, settings, refs)
    times: dict[str, float] = {}
    started = time.perf_counter()
    outputs = run_dedup(plan, {r.shard: r for r in refs})
    times["total"] = time.perf_counter() - started
    for name, refs_ in (("signatures", outputs.signatures), ("clusters", outputs.clusters),
                        ("filter", outputs.dedup)):
        times[name] = sum(_duration(store, r) for r in refs_.values())
    removed = sum(r.counts["read"] - r.counts["kept"] for r in outputs.dedup.values())
    times["removed"] = removed
    return times


def _duration(store: Store, ref: OutputRef) -> float:
    manifest = store.output(ref.stage, ref.key).read_manifest()
    return manifest.duration_s if manifest else 0.0


def datatrove(storage: StorageConfig, refs: list[OutputRef], work: Path) -> dict[str, float]:
    """datatrove's four MinHash stages, run directly on the same files."""
    import shutil

    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.hashing import HashConfig

    from tasks.minhash import utf8_hash

    shutil.rmtree(work, ignore_errors=True)
    store = Store(storage)
    config = MinhashConfig(hash_config=HashConfig(precision=64))
    world = len(refs)

    def documents(rank: int):
        reader = ParquetReader(store.path(refs[rank].dir), glob_pattern="documents-*.parquet")
        return reader.run(None, 0, 1)

    times: dict[str, float] = {}
    started = time.perf_counter()
    t = time.perf_counter()
    for rank in range(world):
        step = MinhashDedupSignature(output_folder=str(work / "signatures"), config=config)
        step._hash_func = utf8_hash(config.hash_config)  # xxhash 4 wants bytes (datatrove#508)
        step.run(documents(rank), rank=rank, world_size=world)
    times["signatures"] = time.perf_counter() - t
    t = time.perf_counter()
    for bucket in range(config.num_buckets):
        MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                            config=config).run(rank=bucket, world_size=config.num_buckets)
    times["buckets"] = time.perf_counter() - t
    t = time.perf_counter()
    MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config).run()
    times["clusters"] = time.perf_counter() - t
    t = time.perf_counter()
    kept = 0
    for rank in range(world):
        step = MinhashDedupFilter(input_folder=str(work / "remove"),
                                  exclusion_writer=ParquetWriter(str(work / "removed"), compression="zstd"))
        with ParquetWriter(str(work / "kept"), compression="zstd") as writer:
            for doc in step.run(documents(rank), rank=rank, world_size=world):
                writer.write(doc, rank)
                kept += 1
    times["filter"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - started
    times["removed"] = sum(r.counts["kept"] for r in refs) - kept
    return times


def child_memory(root: str, refs: list[OutputRef]) -> dict:
    code = (
        "import json, sys, tracemalloc\n"
        "from bench.dedup import ours\n"
        "from storage import StorageConfig\n"
        "from tasks.dedup import DedupSettings\n"
        "from tasks.minhash import signer_for, MinhashParams\n"
        "from tasks.stage import OutputRef\n"
        "root, refs = json.loads(sys.stdin.read())\n"
        "def rss(field):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(field):\n"
        "            return int(line.split()[1]) / 1024\n"
        "signer_for(MinhashParams()).sign('spaCy and its imports loaded before measuring')\n"
        "before = rss('VmRSS:')\n"
        "tracemalloc.start()\n"
        "ours(StorageConfig(root=root), [OutputRef(**r) for r in refs], DedupSettings())\n"
        "traced = tracemalloc.get_traced_memory()[1] / 2**20\n"
        "print(json.dumps({'before_mb': before, 'peak_mb': rss('VmHWM:'), 'traced_mb': traced}))\n"
    )
    payload = json.dumps([root, [r.model_dump() for r in refs]])
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, check=True,
                         cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10, help="documents per sample page (default 10)")
    parser.add_argument("--shards", type=int, default=4, help="documents outputs (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each, best kept (default 1)")
    parser.add_argument("--memory", action="store_true", help="also measure our peak RSS in a child process")
    parser.add_argument("--no-datatrove", action="store_true", help="time our stages only (large --scale)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from datatrove.utils.logging import logger as datatrove_logger

    datatrove_logger.remove()  # its per-step INFO lines would drown the table

    with tempfile.TemporaryDirectory(prefix="ff-bench-dedup-") as tmp:
        storage = StorageConfig(root=str(Path(tmp) / "store"))
        refs = corpus(storage, args.scale, args.shards)
        n = sum(r.counts["kept"] for r in refs)
        mb = sum(r.counts["chars"] for r in refs) / 1e6
        print(f"{n:,} documents ({args.scale} x the sample's pages), {mb:.1f} M characters, {args.shards} shards")
        runs = {
            "datatrove MinHash (4 stages)": lambda: datatrove(storage, refs, Path(tmp) / "datatrove"),
            "fineflow near-only (exact off)": lambda: ours(storage, refs, DedupSettings(exact=False)),
            "fineflow (exact + MinHash)": lambda: ours(storage, refs, DedupSettings()),
        }
        if args.no_datatrove:
            del runs["datatrove MinHash (4 stages)"]
        ours(storage, refs, DedupSettings())  # warm-up: spaCy and imports loaded for everyone
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):  # interleaved, so that a busy moment of the machine hits all alike
            for name, run in runs.items():
                result = run()
                if name not in best or result["total"] < best[name]["total"]:
                    best[name] = result
        memory = child_memory(str(Path(tmp) / "store"), refs) if args.memory else None

    print(f"{'':<34}{'seconds':>9}{'docs/s':>9}{'removed':>9}   stages (s)")
    for name, r in best.items():
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r.items() if k not in ("total", "removed"))
        print(f"{name:<34}{r['total']:>9.2f}{n / r['total']:>9,.0f}{int(r['removed']):>9}   {stages}")
    if not args.no_datatrove:
        dt, near, full = (best[k]["total"] for k in runs)
        print(f"ratio (fineflow near-only / datatrove, docs/s): {dt / near:.1f}")
        print(f"ratio (fineflow exact + MinHash / datatrove):   {dt / full:.1f}")
        same = best["datatrove MinHash (4 stages)"]["removed"] == best["fineflow near-only (exact off)"]["removed"]
        print(f"same number of near-duplicates removed as datatrove: {'yes' if same else 'NO'}")
    if memory:
        print(f"peak RSS of our three stages on {n:,} documents: {memory['peak_mb']:.0f} MB "
              f"({memory['before_mb']:.0f} MB before them, imports and spaCy loaded; "
              f"Python/numpy traced peak {memory['traced_mb']:.1f} MB)")


if __name__ == "__main__":
    main()
