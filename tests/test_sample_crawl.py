"""The committed sample crawl (sample/crawl) is what sample/generate.py writes, and is well formed."""
from __future__ import annotations

import gzip
import html
import importlib.util
import io
import json
import re
import zlib
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
CRAWL = SAMPLE / "crawl"
CRAWL_ID = "CC-MAIN-SAMPLE"

KIND_COUNTS = {
    "html": 278,
    "redirect": 7,
    "not_found": 5,
    "server_error": 1,
    "non_html": 7,
    "truncated": 1,
    "too_large": 1,
}
CODECS = {"utf-8": "utf-8", "windows-1252": "cp1252", "iso-8859-1": "latin-1", "shift_jis": "shift_jis",
          "euc-jp": "euc_jp", "windows-1251": "cp1251", "koi8-r": "koi8_r", "gbk": "gbk"}


def load_generator():
    spec = importlib.util.spec_from_file_location("sample_generate", SAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def files_under(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def warc_paths() -> list[str]:
    return gzip.decompress((CRAWL / "crawl-data" / CRAWL_ID / "warc.paths.gz").read_bytes()).decode().split()


def gzip_members(data: bytes) -> list[tuple[bytes, bytes]]:
    """(compressed member, decompressed member) for each member of a multi-member gzip file."""
    members = []
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data) + d.flush()
        used = len(data) - len(d.unused_data)
        members.append((data[:used], out))
        data = d.unused_data
    return members


def read_records(path: Path) -> list[dict]:
    records = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, check_digests="raise"):
            records.append({
                "type": rec.rec_type,
                "headers": dict(rec.rec_headers.headers),
                "http": rec.http_headers,
                "payload": rec.content_stream().read() if rec.rec_type == "response" else rec.raw_stream.read(),
            })
    return records


@pytest.fixture(scope="module")
def generator():
    return load_generator()


@pytest.fixture(scope="module")
def regenerated(generator, tmp_path_factory):
    out = tmp_path_factory.mktemp("crawl")
    assert generator.main(["--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def expected():
    return json.loads((CRAWL / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def warcs():
    return {Path(p).name: read_records(CRAWL / p) for p in warc_paths()}


def test_regenerating_gives_the_same_content(regenerated):
    assert files_under(regenerated) == files_under(CRAWL)
    for rel in files_under(CRAWL):
        a, b = (CRAWL / rel).read_bytes(), (regenerated / rel).read_bytes()
        if rel.suffix == ".gz":
            a = b"".join(m for _, m in gzip_members(a))
            b = b"".join(m for _, m in gzip_members(b))
        assert a == b, f"{rel} differs from what sample/generate.py writes now: regenerate it"


def test_regenerating_is_byte_identical(regenerated):
    for rel in files_under(CRAWL):
        assert (CRAWL / rel).read_bytes() == (regenerated / rel).read_bytes(), rel


def test_layout_and_warc_paths():
    paths = warc_paths()
    assert len(paths) == 3
    for i, p in enumerate(paths):
        assert p.startswith(f"crawl-data/{CRAWL_ID}/segments/") and f"/warc/CC-MAIN-" in p
        assert p.endswith(f"-{i:05d}.warc.gz")
        assert (CRAWL / p).is_file()
    on_disk = sorted(str(p.relative_to(CRAWL)) for p in CRAWL.rglob("*.warc.gz"))
    assert on_disk == sorted(paths)
    raw = (CRAWL / "crawl-data" / CRAWL_ID / "warc.paths.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_collinfo():
    coll = json.loads((CRAWL / "collinfo.json").read_text())
    assert coll[0]["id"] == CRAWL_ID
    assert len(coll) >= 2
    for entry in coll:
        assert set(entry) == {"id", "name", "timegate", "cdx-api", "from", "to"}
        assert entry["cdx-api"].endswith(entry["id"] + "-index")
    assert [c["from"] for c in coll] == sorted((c["from"] for c in coll), reverse=True)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_record_per_gzip_member(index):
    data = (CRAWL / warc_paths()[index]).read_bytes()
    members = gzip_members(data)
    assert len(members) == 1 + 3 * 100
    for compressed, member in members:
        assert compressed[:2] == b"\x1f\x8b" and compressed[4:8] == b"\0\0\0\0"
        assert member.startswith(b"WARC/1.0\r\n") and member.endswith(b"\r\n\r\n")
        assert len(list(ArchiveIterator(io.BytesIO(compressed)))) == 1


def test_records_come_as_commoncrawl_writes_them(warcs):
    for name, records in warcs.items():
        info = records[0]
        assert info["type"] == "warcinfo"
        assert info["headers"]["WARC-Filename"] == name
        fields = info["payload"].decode()
        for key in ("isPartOf: CC-MAIN-SAMPLE", "publisher: Common Crawl", "format: WARC File Format 1.1",
                    "robots: checked via crawler-commons", "conformsTo: https://iipc.github.io/"):
            assert key in fields
        info_id = info["headers"]["WARC-Record-ID"]
        rest = records[1:]
        assert len(rest) == 300
        for i in range(0, len(rest), 3):
            req, resp, meta = rest[i:i + 3]
            assert (req["type"], resp["type"], meta["type"]) == ("request", "response", "metadata")
            url = resp["headers"]["WARC-Target-URI"]
            assert req["headers"]["WARC-Target-URI"] == url == meta["headers"]["WARC-Target-URI"]
            assert resp["headers"]["WARC-Concurrent-To"] == req["headers"]["WARC-Record-ID"]
            assert meta["headers"]["WARC-Concurrent-To"] == resp["headers"]["WARC-Record-ID"]
            for r in (req, resp, meta):
                assert r["headers"]["WARC-Warcinfo-ID"] == info_id
            assert req["headers"]["Content-Type"] == "application/http; msgtype=request"
            assert resp["headers"]["Content-Type"] == "application/http; msgtype=response"
            assert meta["headers"]["Content-Type"] == "application/warc-fields"
            assert req["http"].protocol == "GET"
            assert req["http"].get_header("User-Agent") == "CCBot/2.0 (https://commoncrawl.org/faq/)"
            assert req["http"].get_header("Host") == url.split("/")[2]
            assert req["http"].get_header("Accept")
            assert "WARC-IP-Address" in resp["headers"] and "WARC-Payload-Digest" in resp["headers"]
            assert meta["payload"].startswith(b"fetchTimeMs: ")


def test_expected_json_matches_the_response_records(expected, warcs):
    responses = [(name, r) for name, records in warcs.items() for r in records if r["type"] == "response"]
    assert len(expected) == len(responses) == 300
    for e, (name, r) in zip(expected, responses):
        h = r["headers"]
        assert e["warc"] == name
        assert e["record_id"] == h["WARC-Record-ID"]
        assert e["url"] == h["WARC-Target-URI"]
        assert e["status"] == int(r["http"].get_statuscode())
        assert e["content_type"] == r["http"].get_header("Content-Type")
        assert e["identified_type"] == h.get("WARC-Identified-Payload-Type")
        assert ("WARC-Truncated" in h) == (e["kind"] == "truncated")
        if e["kind"] == "redirect":
            assert e["status"] in (301, 302, 307, 308) and r["http"].get_header("Location")
        if e["kind"] == "too_large":
            assert len(r["payload"]) > 1_000_000
        if e["paragraphs"]:
            text = html.unescape(re.sub(r"<[^>]+>", "", r["payload"].decode(CODECS[e["charset"]])))
            for p in e["paragraphs"]:
                assert p in text, (e["url"], p)
        if e["charset_label"] == "wrong_header":
            assert "utf-8" in e["content_type"].lower() and e["charset"] != "utf-8"
            with pytest.raises(UnicodeDecodeError):
                r["payload"].decode("utf-8")
    assert len({e["url"] for e in expected}) == len(expected)


def test_kind_counts(expected, generator):
    counts = Counter(e["kind"] for e in expected)
    assert counts == KIND_COUNTS == generator.EXPECTED_KIND_COUNTS


def test_ground_truth_cases(expected, warcs):
    by_url = {e["url"]: e for e in expected}
    payloads = {r["headers"]["WARC-Record-ID"]: r["payload"] for records in warcs.values() for r in records
                if r["type"] == "response"}
    html_pages = [e for e in expected if e["kind"] == "html"]
    english = sum(e["language"] == "en" for e in html_pages)
    assert english / len(expected) >= 0.55
    assert {e["language"] for e in html_pages} >= {"en", "fr", "de", "es", "it", "pt", "nl", "ru", "ja", "zh"}
    assert {e["charset"] for e in html_pages} >= {"utf-8", "windows-1252", "iso-8859-1", "shift_jis", "euc-jp",
                                                  "windows-1251", "koi8-r", "gbk"}
    assert {e["charset_label"] for e in html_pages} == {"header", "meta", "none", "wrong_header"}
    assert sum(e["quality"] == "low" for e in html_pages) == 20
    assert sum(e["blocklisted"] for e in expected) == 6
    assert sum(e["lookalike"] for e in expected) == 4
    assert all(not e["blocklisted"] for e in expected if e["lookalike"])
    # exact duplicates: byte-identical payloads, at least 3 groups, some across files
    groups: dict[str, list[dict]] = {}
    for e in expected:
        if e["duplicate_of"]:
            groups.setdefault(e["duplicate_of"], [by_url[e["duplicate_of"]]]).append(e)
    assert len(groups) >= 3
    assert any(len({m["warc"] for m in g}) > 1 for g in groups.values())
    for g in groups.values():
        assert len({payloads[m["record_id"]] for m in g}) == 1
    # near duplicates: at least 4 groups of 2 to 4 pages
    near: dict[str, list[dict]] = {}
    for e in expected:
        if e["near_duplicate_of"]:
            near.setdefault(e["near_duplicate_of"], [by_url[e["near_duplicate_of"]]]).append(e)
    assert len(near) >= 4 and all(2 <= len(g) <= 4 for g in near.values())
    content_types = {e["content_type"] for e in expected if e["kind"] == "non_html"}
    assert {"application/pdf", "image/jpeg", "application/json", "text/css"} <= content_types
    assert any(ct.startswith("text/plain") for ct in content_types)
    odd = [e for e in html_pages if not e["content_type"].startswith("text/html")]
    assert {e["content_type"].split(";")[0] for e in odd} == {"text/plain", "application/octet-stream"}
    assert all(e["identified_type"] == "text/html" for e in odd)
