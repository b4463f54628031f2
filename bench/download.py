"""Download stage vs a plain streaming copy, side by side, over the loopback crawl server.

    python -m bench.download [--size-mb 1024] [--repeat 2]

Both read the same files from the same server in this run. The plain copy is httpx
streaming straight to a local file, nothing else; ours adds gzip-member verification,
checksums, Range resume and the manifest commit. Peak memory is measured in a child
process that runs only the stage on the 1 GB file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from storage import StorageConfig
from tasks.download import DOWNLOAD, DownloadJob
from tests.crawlserver import CrawlServer

CRAWL = "CC-MAIN-BENCH"


def make_warc(path: Path, size: int) -> None:
    """`size` bytes of gzip members shaped like Common Crawl's: text that compresses ~4:1."""
    rng = random.Random(0)
    words = [("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))) for _ in range(5000)]
    members = []
    for _ in range(32):
        text = " ".join(rng.choice(words) for _ in range(60_000)).encode()
        members.append(gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\n\r\n" + text, compresslevel=6, mtime=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as f:
        i = 0
        while written < size:
            member = members[i % len(members)]
            f.write(member)
            written += len(member)
            i += 1


def plain_copy(url: str, dest: Path) -> None:
    with httpx.Client(timeout=60) as client, client.stream("GET", url) as r, open(dest, "wb") as f:
        r.raise_for_status()
        for chunk in r.iter_raw():
            f.write(chunk)


def ours(server_url: str, rel: str, root: str) -> None:
    job = DownloadJob(storage=StorageConfig(root=root), shard=rel, crawl=CRAWL, data_url=server_url)
    ref = DOWNLOAD.run(job)
    assert not ref.reused


def child_peak_rss(server_url: str, rel: str, root: str) -> dict:
    code = (
        "import json, sys, resource\n"
        "from bench.download import ours\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"ours({server_url!r}, {rel!r}, {root!r})\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'before_mb': before / 1024, 'peak_mb': after / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the WARC file (default 1024)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each, best kept (default 2)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ff-bench-") as tmp:
        tmp = Path(tmp)
        rel = f"crawl-data/{CRAWL}/segments/1/warc/bench-00000.warc.gz"
        started = time.perf_counter()
        make_warc(tmp / "cc" / rel, args.size_mb * 2**20)
        size = (tmp / "cc" / rel).stat().st_size
        print(f"made a {size / 2**20:.0f} MiB WARC in {time.perf_counter() - started:.1f} s")

        with CrawlServer(tmp / "cc", chunk_size=1 << 20) as server:
            url = f"{server.url}/{rel}"
            best = {"plain": float("inf"), "ours": float("inf")}
            for i in range(args.repeat):
                t = time.perf_counter()
                plain_copy(url, tmp / "plain.warc.gz")
                best["plain"] = min(best["plain"], time.perf_counter() - t)
                os.remove(tmp / "plain.warc.gz")
                t = time.perf_counter()
                ours(server.url, rel, str(tmp / f"store{i}"))
                best["ours"] = min(best["ours"], time.perf_counter() - t)
                subprocess.run(["rm", "-rf", str(tmp / f"store{i}")], check=True)
            mem = child_peak_rss(server.url, rel, str(tmp / "store-mem"))

    mb = size / 1e6
    print(f"{'':<34}{'seconds':>10}{'MB/s':>10}")
    print(f"{'plain httpx streaming copy':<34}{best['plain']:>10.2f}{mb / best['plain']:>10.0f}")
    print(f"{'fineflow download stage':<34}{best['ours']:>10.2f}{mb / best['ours']:>10.0f}")
    print(f"ratio (ours / plain throughput): {best['plain'] / best['ours']:.2f}")
    print(f"peak RSS of a process downloading {size / 2**20:.0f} MiB: {mem['peak_mb']:.0f} MB "
          f"({mem['before_mb']:.0f} MB after imports, before the download); limit 200 MB")


if __name__ == "__main__":
    main()
