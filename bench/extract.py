"""Extract + filter stages vs the same datatrove blocks under datatrove's own executor.

    python -m bench.extract [--copies 4] [--timeout 2]

The input is a benchmark crawl in Common Crawl's layout: `--copies` copies of each sample
WARC (same bytes, new names), 300 response records per copy set, read from local files.

Ours: every WARC is committed with the download stage (not timed), then EXTRACT.run +
FILTER.run per WARC, one WARC per call to a spawn ProcessPoolExecutor of 1, then 2,
processes, into a fresh storage root each time (nothing reused).

datatrove: WarcReader -> URLFilter -> Trafilatura -> LanguageFilter -> GopherRepetition ->
GopherQuality -> C4Quality -> FineWebQuality -> ParquetWriter under LocalPipelineExecutor,
one task per WARC, 1 then 2 workers, into a fresh output and logging folder each time.

Both run with the same per-document extraction limit and the same fastText model (our
bundled lid.176.ftz, placed where datatrove looks for lid.176.bin in a temporary
HF_ASSETS_CACHE), offline. The clock starts once the worker processes of both exist with
the code imported (our pool is warmed; datatrove's forkserver is started with the same
modules preloaded); what a task loads itself (block lists, the language model, spaCy, the
extractor's child process) is timed on both sides. documents/s counts the response
records of the input on both sides.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample" / "crawl"
SAMPLE_CRAWL = "CC-MAIN-SAMPLE"
CRAWL = "CC-MAIN-BENCH"
# Imported in every worker of both sides before the clock starts.
PRELOAD = ["lxml.html", "trafilatura", "datatrove.pipeline.readers", "datatrove.pipeline.extractors",
           "datatrove.pipeline.filters", "datatrove.pipeline.writers"]
# Stands in for faust-cchardet when it is not installed (datatrove's WarcReader requires it,
# and only calls it for bodies that are not valid UTF-8).
CCHARDET_SHIM = '''"""bench.extract's stand-in for faust-cchardet: charset_normalizer's chardet-style detect."""
from charset_normalizer import detect as _detect


def detect(data):
    return {"encoding": _detect(bytes(data))["encoding"], "confidence": None}
'''


@dataclass
class Measurement:
    name: str
    seconds: float
    kept: int
    read: int
    docs: dict[str, dict] = field(default_factory=dict, repr=False)  # id -> row, kept documents
    fates: dict[str, str] = field(default_factory=dict, repr=False)  # id -> why not kept (ours only)
    note: str = ""
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after


# the benchmark crawl


def build_crawl(root: Path, copies: int) -> list[str]:
    """`copies` copies of each sample WARC, renumbered, with a warc.paths.gz; their paths."""
    sources = gzip.decompress((SAMPLE / f"crawl-data/{SAMPLE_CRAWL}/warc.paths.gz").read_bytes()).decode().split()
    rels = []
    for copy in range(copies):
        for i, src in enumerate(sources):
            folder, name = src.replace(SAMPLE_CRAWL, CRAWL).rsplit("/", 1)
            name = re.sub(r"-\d{5}\.warc\.gz$", f"-{copy * len(sources) + i:05d}.warc.gz", name)
            rel = f"{folder}/{name}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLE / src, root / rel)
            rels.append(rel)
    with gzip.open(root / f"crawl-data/{CRAWL}/warc.paths.gz", "wt") as f:
        f.write("".join(f"{rel}\n" for rel in rels))
    return rels


# offline setup


def set_cache_env(tmp: Path) -> None:
    """Caches in the temporary folder; must run before huggingface_hub is imported (it reads
    HF_ASSETS_CACHE once, at import), so the spawned and forked workers inherit it too."""
    if "huggingface_hub" in sys.modules:
        raise RuntimeError("huggingface_hub was imported before the benchmark set HF_ASSETS_CACHE")
    os.environ["HF_HOME"] = str(tmp / "hf")
    os.environ["HF_ASSETS_CACHE"] = str(tmp / "hf" / "assets")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TLDEXTRACT_CACHE"] = str(tmp / "tldextract")


def place_language_model() -> str:
    """Our bundled lid.176.ftz where datatrove's LanguageFilter looks for lid.176.bin:
    cached_asset_path_or_download returns at once when `<file>.completed` exists."""
    from datatrove.io import cached_asset_path_or_download
    from datatrove.utils.lid import FT176LID
    from fsspec.core import strip_protocol
    from huggingface_hub import cached_assets_path

    from tasks.filter import BUNDLED_LID_MODEL

    folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    target = Path(folder) / strip_protocol(FT176LID.MODEL_URL).replace("/", "_")
    shutil.copyfile(BUNDLED_LID_MODEL, target)
    Path(f"{target}.completed").touch()
    found = cached_asset_path_or_download(FT176LID.MODEL_URL, namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    assert found == str(target), (found, target)
    FT176LID(["en"]).model  # noqa: B018 - loads it, from there, without any download
    return str(target)


def url_filter_block():
    """datatrove's URLFilter, with tldextract on its bundled suffix list instead of fetching it."""
    from datatrove.pipeline.filters import URLFilter
    from tldextract import TLDExtract

    block = URLFilter()
    block.tldextractor = TLDExtract(suffix_list_urls=())
    return block


def cchardet_shim(tmp: Path) -> Path | None:
    """None when faust-cchardet is installed; else a folder to put on sys.path that holds
    a stand-in `cchardet` (and the distribution record datatrove checks for)."""
    try:
        importlib.import_module("cchardet")
        return None
    except ImportError:
        pass
    shim = tmp / "cchardet-shim"
    (shim / "cchardet").mkdir(parents=True)
    (shim / "cchardet" / "__init__.py").write_text(CCHARDET_SHIM)
    dist = shim / "faust_cchardet-0+benchshim.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: faust-cchardet\nVersion: 0+benchshim\n")
    return shim


@contextmanager
def on_sys_path(folder: Path | None):
    if folder is None:
        yield
        return
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))


# ours


def preload() -> None:
    """Worker initializer: the code both sides have imported before the clock starts."""
    for name in [*PRELOAD, "tasks.extract", "tasks.filter"]:
        importlib.import_module(name)


def ready(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


def warm(pool: ProcessPoolExecutor, procs: int) -> None:
    """Returns once `procs` distinct workers have run a task, i.e. are up and initialized."""
    from bench import extract as this

    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while len(seen) < procs:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen)} of {procs} worker processes started")
        seen.update(pool.map(this.ready, [0.5] * procs))


def ours_warc(storage, download, timeout: float):
    """One WARC through extract and filter; both outputs must be new."""
    from tasks.extract import EXTRACT, ExtractJob, ExtractSettings
    from tasks.filter import FILTER, FilterJob

    started = time.perf_counter()
    extracted = EXTRACT.run(ExtractJob(storage=storage, shard=download.shard, crawl=CRAWL, sources=[download],
                                       settings=ExtractSettings(timeout_s=timeout)))
    filtered = FILTER.run(FilterJob(storage=storage, shard=download.shard, sources=[extracted]))
    assert not extracted.reused and not filtered.reused
    return extracted, filtered, os.getpid(), time.perf_counter() - started


def run_ours(tmp: Path, crawl_root: Path, rels: list[str], procs: int, timeout: float) -> Measurement:
    import pyarrow.parquet as pq

    from bench import extract as this
    from storage import StorageConfig, Store
    from tasks.download import DOWNLOAD, DownloadJob

    root = tmp / f"ours-{procs}"
    storage = StorageConfig(root=str(root))
    downloads = [DOWNLOAD.run(DownloadJob(storage=storage, shard=rel, crawl=CRAWL, data_url=crawl_root.as_uri()))
                 for rel in rels]
    assert not any(d.reused for d in downloads)
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn"), initializer=this.preload) as pool:
        warm(pool, procs)
        started = time.perf_counter()
        results = list(pool.map(this.ours_warc, [storage] * len(rels), downloads, [timeout] * len(rels)))
        seconds = time.perf_counter() - started

    store = Store(storage)
    m = Measurement(f"ours, {procs} process{'es' if procs > 1 else ''}", seconds,
                    kept=sum(f.counts.get("kept", 0) for _, f, _, _ in results),
                    read=sum(e.counts["read"] for e, _, _, _ in results))
    for extracted, filtered, _, _ in results:
        for ref, prefix in ((filtered, "documents"), (extracted, "rejected"), (filtered, "rejected")):
            for name in ref.files:
                if name.startswith(f"{prefix}-") and name.endswith(".parquet"):
                    with store.open(ref.path(name)) as f:
                        for row in pq.read_table(f).to_pylist():
                            if prefix == "documents":
                                m.docs[row["id"]] = row
                            else:
                                m.fates[row["id"]] = row["reason"]
    skipped, first, later = Counter(), {}, []
    for extracted, _, pid, seconds in results:
        skipped.update({k.removeprefix("skipped:"): v for k, v in extracted.counts.items() if k.startswith("skipped:")})
        if pid in first:
            later.append(seconds)
        else:
            first[pid] = seconds
    m.note = (f"first WARC in each process {sum(first.values()) / len(first):.1f} s (loads the block lists, "
              f"the language model and spaCy, starts the extractor), later WARCs "
              + (f"{sum(later) / len(later):.1f} s" if later else "none")
              + "; extract skipped " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    shutil.rmtree(root)
    return m


# datatrove


def quiet_datatrove(data, rank: int = 0, world_size: int = 1):
    """A first pipeline step that only silences datatrove's loguru messages in the task's
    process (warnings per document among them), as our extract stage does in its own."""
    from loguru import logger

    logger.disable("datatrove")
    return data


def datatrove_pipeline(crawl_root: Path, paths_file: Path, out: Path, timeout: float) -> list:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter)
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter

    from bench import extract as this

    return [
        this.quiet_datatrove,
        WarcReader(str(crawl_root), paths_file=str(paths_file)),
        url_filter_block(),
        Trafilatura(favour_precision=True, timeout=timeout),
        LanguageFilter(languages=["en"], language_threshold=0.65),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        ParquetWriter(str(out)),
    ]


def start_forkserver() -> None:
    """datatrove's pool forks its workers from multiprocess's fork server: started here,
    with the same modules our workers import, before the clock (it outlives the runs)."""
    import multiprocess
    import multiprocess.forkserver

    from bench import extract as this

    ctx = multiprocess.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    process = ctx.Process(target=this.ready, args=(0,))
    process.start()
    process.join()


def run_datatrove(tmp: Path, crawl_root: Path, paths_file: Path, tasks: int, workers: int,
                  timeout: float) -> Measurement:
    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor

    out, logs = tmp / f"datatrove-{workers}", tmp / f"datatrove-{workers}-logs"
    executor = LocalPipelineExecutor(datatrove_pipeline(crawl_root, paths_file, out, timeout), tasks=tasks,
                                     workers=workers, logging_dir=str(logs), start_method="forkserver")
    started = time.perf_counter()
    stats = executor.run()
    seconds = time.perf_counter() - started

    m = Measurement(f"datatrove, {workers} worker{'s' if workers > 1 else ''}", seconds, kept=0, read=0)
    for path in sorted(out.glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            m.docs[row["id"].strip("<>").removeprefix("urn:uuid:")] = row
            m.kept += 1
    by_step = {s.name: s.stats for s in stats.stats}
    per_task = {s.name: s.time_stats.global_mean for s in stats.stats}
    reader = next((v for k, v in by_step.items() if "Warc" in k), {})
    extractor = next((v for k, v in by_step.items() if "Trafilatura" in k), {})
    m.read = int(_stat(reader, "documents"))
    m.note = (f"{sum(per_task.values()):.1f} s per task, of which URLFilter "
              f"{next((v for k, v in per_task.items() if 'Url' in k), 0):.1f} s (loads its block lists in every "
              f"task), Language ID {next((v for k, v in per_task.items() if 'Language' in k), 0):.1f} s; "
              f"WarcReader yielded {m.read} HTML records; trafilatura timeouts "
              f"{int(_stat(extractor, 'timeout'))}, errors {int(_stat(extractor, 'clean_error'))}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    return m


def _stat(stats, key: str) -> float:
    value = stats.get(key) if hasattr(stats, "get") else None
    return getattr(value, "total", value or 0)


# comparing outputs


def record_facts(crawl_root: Path, rels: list[str]) -> dict[str, str]:
    """uuid -> HTTP status, truncation, size and type of every response record, to say why
    our extract stage skipped a record the datatrove pipeline kept."""
    from warcio.archiveiterator import ArchiveIterator

    from tasks.extract import record_id

    facts = {}
    for rel in rels:
        with open(crawl_root / rel, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response":
                    continue
                h = record.rec_headers
                status = record.http_headers.get_statuscode() if record.http_headers else "?"
                size = len(record.content_stream().read())
                trunc = f", truncated ({h.get_header('WARC-Truncated')})" if h.get_header("WARC-Truncated") else ""
                facts[record_id(h.get_header("WARC-Record-ID") or "")] = (
                    f"HTTP {status}{trunc}, {size:,} bytes, "
                    f"{record.http_headers.get_header('Content-Type') if record.http_headers else '?'}")
    return facts


def compare(ours: Measurement, theirs: Measurement, facts: dict[str, str], limit: int = 12) -> None:
    only_ours = sorted(set(ours.docs) - set(theirs.docs))
    only_theirs = sorted(set(theirs.docs) - set(ours.docs))
    both = set(ours.docs) & set(theirs.docs)
    same_text = sum(ours.docs[i]["text"] == theirs.docs[i]["text"] for i in both)
    print(f"\nkept documents (distinct records): ours {len(ours.docs)}, datatrove {len(theirs.docs)}, "
          f"both {len(both)} ({same_text} with identical text)")
    if only_theirs:
        print(f"kept by datatrove only: {len(only_theirs)}")
        for i in only_theirs[:limit]:
            print(f"  {theirs.docs[i]['metadata'].get('url')}\n    ours: "
                  f"{ours.fates.get(i) or 'skipped in extract'}; record: {facts.get(i, '?')}")
    if only_ours:
        print(f"kept by ours only: {len(only_ours)}")
        for i in only_ours[:limit]:
            d = ours.docs[i]
            print(f"  {d['url']}\n    ours: language {d['language']} {d['language_score'] or 0:.2f}; "
                  f"record: {facts.get(i, '?')}")
    differing = sorted(i for i in both if ours.docs[i]["text"] != theirs.docs[i]["text"])
    for i in differing[:limit]:
        a, b = ours.docs[i]["text"], theirs.docs[i]["text"]
        at = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        print(f"  text differs: {ours.docs[i]['url']} ({len(a)} vs {len(b)} chars; from char {at}: "
              f"ours {a[at:at + 30]!r}, datatrove {b[at:at + 30]!r})")


# main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each sample WARC (default 4: 12 files)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="per-document extraction limit in seconds, both sides (default 2, ours' default)")
    args = parser.parse_args()
    if args.copies < 1 or args.timeout <= 0:
        parser.error("--copies must be >= 1 and --timeout > 0")

    with tempfile.TemporaryDirectory(prefix="ff-bench-extract-") as tmp:
        tmp = Path(tmp)
        set_cache_env(tmp)
        crawl_root = tmp / "cc"
        rels = build_crawl(crawl_root, args.copies)
        paths_file = crawl_root / f"crawl-data/{CRAWL}/warc.paths.gz"

        from loguru import logger

        for name in PRELOAD:
            importlib.import_module(name)
        logger.disable("datatrove")
        model = place_language_model()
        url_filter_block().download_data()  # unpacks the shipped block lists into the cache, once
        shim = cchardet_shim(tmp)
        print(f"{len(rels)} WARC files ({args.copies} copies of the sample's 3), extraction limit {args.timeout:g} s, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"datatrove offline: lid.176.bin <- tasks/assets/lid.176.ftz at {model}; "
              f"URLFilter with TLDExtract(suffix_list_urls=())")
        if shim is not None:
            print("datatrove's WarcReader requires faust-cchardet, which is not installed: a stand-in backed by "
                  "charset_normalizer.detect is used (only for bodies that are not UTF-8)")

        results = []
        for procs in (1, 2):  # interleaved, so that a change in the machine's load hits both sides
            before = os.getloadavg()[0]
            results.append(run_ours(tmp, crawl_root, rels, procs, args.timeout))
            results[-1].load = (before, before := os.getloadavg()[0])
            with on_sys_path(shim):
                if procs == 1:
                    start_forkserver()
                results.append(run_datatrove(tmp, crawl_root, paths_file, len(rels), procs, args.timeout))
            results[-1].load = (before, os.getloadavg()[0])
        ours1, dt1, ours2, dt2 = results
        facts = record_facts(crawl_root, rels)

    docs = ours1.read
    assert ours2.read == docs and ours2.kept == ours1.kept, "our two runs disagree"
    print(f"\n{len(rels)} WARC files, {docs} response records (documents/s counts these on every row)")
    print(f"{'':<24}{'seconds':>9}{'docs/s':>9}{'kept':>7}   load average (1 min) before -> after")
    for m in (ours1, ours2, dt1, dt2):
        print(f"{m.name:<24}{m.seconds:>9.1f}{docs / m.seconds:>9.1f}{m.kept:>7}   {m.load[0]:.1f} -> {m.load[1]:.1f}")
    print(f"ours / datatrove throughput, 1 process:   {dt1.seconds / ours1.seconds:.2f}")
    print(f"ours / datatrove throughput, 2 processes: {dt2.seconds / ours2.seconds:.2f}")
    print(f"ours 2 processes / ours 1 process:        {ours1.seconds / ours2.seconds:.2f}")
    gap = abs(ours1.kept - dt1.kept) / max(ours1.kept, dt1.kept, 1)
    print(f"kept: ours {ours1.kept}, datatrove {dt1.kept} ({100 * gap:.1f}% apart"
          f"{'; more than 3%: see below' if gap > 0.03 else ''})")
    for m in (ours1, ours2, dt1, dt2):
        print(f"{m.name}: {m.note}")
    print("(the sample's WARC files hold 100 response records, Common Crawl's about 35,000: what a process or a "
          "task loads once weighs far more here than it would on real files)")
    compare(ours1, dt1, facts)


if __name__ == "__main__":
    main()
