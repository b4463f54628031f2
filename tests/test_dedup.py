"""The dedup stage: exact copies, MinHash near-duplicates, the detection curve, accounting,
the sample crawl's duplicate groups, scope, and a Prefect run that is cached the second time."""

from __future__ import annotations

import math
import random
import string
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from prefect import flow

from storage import StorageConfig, Store
from storage.parquet import DOCUMENTS, ShardWriter
from tasks.accounting import AccountingError, check_balance
from tasks.dedup import (CLUSTERS, DEDUP, EXACT, NEAR, REMOVED, SIGNATURES, DedupJob, DedupOutputs, DedupSettings,
                         committed_dedup, plan_dedup, run_dedup, submit_dedup)
from tasks.minhash import MinhashParams, UnionFind, detection_probability, equal_row_pairs, signer_for
from tasks.stage import OutputRef, PermanentError, Stage, StageJob, StageResult
from tests.documents_fixture import TRICKY, sample_documents
from tests.flowtools import task_states
from tests.conftest import SAMPLE_EXPECTED as EXPECTED, SAMPLE_PATHS as PATHS

T0 = datetime(2024, 2, 20, tzinfo=timezone.utc)


# Filter outputs made of given documents (counts as the filter reports them)


class DocumentsJob(StageJob):
    documents: list[dict[str, Any]]


def _write(job: DocumentsJob, out, ctx) -> StageResult:
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=500, row_group_rows=128) as shards:
        for doc in job.documents:
            shards.write(doc)
    n = len(job.documents)
    return StageResult(counts={"read": n, "kept": n})


FILTERED = Stage(name="filter", version="dedup-fixture", work=_write)


def doc(doc_id: str, text: str, crawl: str = "CC-MAIN-2024-10", minutes: int = 0, url: str | None = None) -> dict:
    return {"id": doc_id, "url": url or f"https://example.org/{doc_id}", "crawl": crawl, "warc_path": "x.warc.gz",
            "date": T0 + timedelta(minutes=minutes), "language": "en", "language_score": 0.9, "text": text}


def filtered(storage: StorageConfig, docs: list[dict], shards: int, seed: int = 0, crawl: str | None = None
             ) -> list[OutputRef]:
    """`docs` shuffled and dealt into `shards` filter outputs named like WARC paths."""
    docs = list(docs)
    random.Random(seed).shuffle(docs)
    refs = []
    for i in range(shards):
        part = docs[i::shards]
        name = crawl or part[0]["crawl"]
        shard = f"crawl-data/{name}/segments/1/warc/{name}-{i:05d}.warc.gz"
        refs.append(FILTERED.run(DocumentsJob(storage=storage, shard=shard, documents=part)))
    return refs


def dedup_all(storage: StorageConfig, refs: list[OutputRef], settings: DedupSettings | None = None
              ) -> DedupOutputs:
    plan = plan_dedup(storage, settings or DedupSettings(), refs)
    return run_dedup(plan, {r.shard: r for r in refs})


def dedup(storage: StorageConfig, refs: list[OutputRef], settings: DedupSettings | None = None
          ) -> dict[str, OutputRef]:
    return dedup_all(storage, refs, settings).dedup


def read(store: Store, refs, prefix: str, columns=None) -> list[dict]:
    out = []
    for ref in refs:
        for name in ref.files:
            if name.startswith(prefix + "-"):
                with store.open(ref.path(name)) as f:
                    out.extend(pq.read_table(f, columns=columns).to_pylist())
    return out


VOCAB = sorted({"".join(random.Random(i).choices(string.ascii_lowercase, k=7)) for i in range(4000)})


def prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


# Exact copies


def test_exact_copies_under_different_urls_keep_the_earliest_on_every_rerun(tmp_path):
    rng = random.Random(1)
    text = prose(rng, 300)
    copies = [doc(f"copy-{i}", text, minutes=m, url=f"https://site{i}.example/page?utm={i}")
              for i, m in enumerate([30, 10, 50, 10, 20])]
    # Same text up to whitespace: an exact duplicate after normalization.
    copies.append(doc("copy-5", "  " + text.replace(" ", "\n", 3) + "\n", minutes=40))
    others = [doc(f"other-{i}", prose(rng, 300), minutes=i) for i in range(40)]
    docs = copies + others
    outcomes, digests = [], []
    # Twice the same shards (a rerun from scratch), then the documents dealt otherwise.
    for attempt, (shards, seed) in enumerate([(3, 0), (3, 0), (4, 7)]):
        storage = StorageConfig(root=str(tmp_path / f"run-{attempt}"))
        store = Store(storage)
        results = dedup(storage, filtered(storage, docs, shards, seed))
        removed = read(store, results.values(), "removed")
        kept = {d["id"] for d in read(store, results.values(), "documents")}
        assert {d["id"] for d in removed} == {f"copy-{i}" for i in (0, 2, 3, 4, 5)}
        # Two copies share the earliest date; the smaller id wins the tie.
        assert {d["duplicate_of"] for d in removed} == {"copy-1"} and "copy-1" in kept
        assert {d["reason"] for d in removed} == {EXACT}
        assert all(d["text"] and d["url"] for d in removed)  # a person can see what went
        outcomes.append(sorted((d["id"], d["duplicate_of"]) for d in removed))
        digests.append([results[s].digest for s in sorted(results)])
    assert digests[0] == digests[1]  # byte-identical outputs
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_exact_off_leaves_copies_to_minhash_and_both_off_keeps_all(tmp_path):
    rng = random.Random(2)
    text = prose(rng, 200)
    docs = [doc("a", text, minutes=1), doc("b", text, minutes=2), doc("c", prose(rng, 200))]
    storage = StorageConfig(root=str(tmp_path))
    refs = filtered(storage, docs, 2)
    store = Store(storage)
    near_only = dedup(storage, refs, DedupSettings(exact=False))
    assert [(d["id"], d["reason"], d["duplicate_of"]) for d in read(store, near_only.values(), "removed")] == [
        ("b", NEAR, "a")]
    neither = dedup(storage, refs, DedupSettings(exact=False, near=False))
    assert sum(r.counts["kept"] for r in neither.values()) == 3
    assert plan_dedup(storage, DedupSettings(enabled=False), refs).dedup == {}


def test_empty_shards_and_texts_too_short_to_shingle(tmp_path):
    storage = StorageConfig(root=str(tmp_path))
    empty = FILTERED.run(DocumentsJob(storage=storage, shard="crawl-data/CC-X/segments/0/warc/empty.warc.gz",
                                      documents=[]))
    short = [doc("s1", "two words", minutes=2), doc("s2", "two   words", minutes=1), doc("s3", None),
             doc("s4", "")]
    refs = [empty, *filtered(storage, short, 1)]
    outputs = dedup_all(storage, refs)
    assert outputs.dedup[empty.shard].counts == {"read": 0, "kept": 0}
    [counts] = [r.counts for s, r in outputs.dedup.items() if s != empty.shard]
    # No shingle in any of them: exact hashes alone find the copies.
    assert counts == {"read": 4, "kept": 2, f"rejected:{EXACT}": 2}
    assert sum(r.counts["signed"] for r in outputs.signatures.values()) == 0
    # Found again in storage without running anything; a plan with other settings is not there.
    found = committed_dedup(plan_dedup(storage, DedupSettings(), refs), {r.shard: r for r in refs})
    assert found is not None and {s: r.digest for s, r in found.dedup.items()} == {
        s: r.digest for s, r in outputs.dedup.items()}
    assert committed_dedup(plan_dedup(storage, DedupSettings(seed=9), refs), {r.shard: r for r in refs}) is None
    assert {(d["id"], d["duplicate_of"]) for d in read(Store(storage), outputs.dedup.values(), "removed")} == {
        ("s1", "s2"), ("s4", "s3")}


# The detection curve


def similar_pair(rng: random.Random, similarity: float, size: int = 200) -> tuple[list[str], list[str]]:
    """Two word lists whose sets of 5-word shingles (`size` each) have about this Jaccard."""
    shared = round(2 * size * similarity / (1 + similarity))
    common = [rng.choice(VOCAB) for _ in range(shared + 4)]
    tail = size - shared
    return (common + [rng.choice(VOCAB) for _ in range(tail)],
            common + [rng.choice(VOCAB) for _ in range(tail)])


def shingles(words: list[str], n: int = 5) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


LEVELS = [0.5, 0.7, 0.75, 0.8, 0.85, 0.95]
PAIRS = 300


def test_detection_curve_follows_the_theory(tmp_path):
    rng = random.Random(2024)
    docs, pairs = [], defaultdict(list)
    signer = signer_for(MinhashParams())
    for level in LEVELS:
        for i in range(PAIRS):
            a, b = similar_pair(rng, level)
            if i == 0:  # the shingles are the words generated, through datatrove's tokenizer
                assert signer.words(" ".join(a)) == a
            ids = (f"{level}-{i}-a", f"{level}-{i}-b")
            docs += [doc(ids[0], " ".join(a), minutes=i), doc(ids[1], " ".join(b), minutes=i + 1)]
            pairs[level].append((ids, jaccard(a, b)))
    storage = StorageConfig(root=str(tmp_path))
    results = dedup(storage, filtered(storage, docs, shards=4))
    removed = {d["id"]: d["duplicate_of"] for d in read(Store(storage), results.values(), "removed",
                                                          columns=["id", "duplicate_of"])}
    report = []
    for level in LEVELS:
        caught = sum(removed.get(b) == a for (a, b), _ in pairs[level]) / PAIRS
        expected = float(np.mean([detection_probability(j) for _, j in pairs[level]]))
        sigma = math.sqrt(max(expected * (1 - expected), 0.01) / PAIRS)
        report.append((level, round(caught, 3), round(expected, 3)))
        assert abs(caught - expected) <= 3 * sigma + 0.01, report
    # 1-(1-s^8)^14 at the brief's points, and pairs at 0.5 almost never caught.
    for s, brief in ((0.7, 0.56), (0.75, 0.77), (0.8, 0.92), (0.85, 0.988)):
        assert detection_probability(s) == pytest.approx(brief, abs=0.005)
    print("detection curve (similarity, caught, theory):", report)
    assert dict((lvl, c) for lvl, c, _ in report)[0.5] < 0.1
    # No document of one pair was ever matched with one of another.
    assert all(dup.rsplit("-", 1)[0] == rid.rsplit("-", 1)[0] for rid, dup in removed.items())


# The sample crawl


@pytest.fixture(scope="module")
def sample_dedup(sample_run):
    store, runs = sample_run
    filters = [refs["filter"] for refs in runs.values()]
    outputs = dedup_all(store.config, filters)
    return store, runs, outputs


def groups(field: str) -> dict[str, set[str]]:
    """Ground-truth duplicate groups by URL: each group's first page and its copies."""
    out: dict[str, set[str]] = defaultdict(set)
    for e in EXPECTED:
        if e[field]:
            out[e[field]] |= {e[field], e["url"]}
    return out


def test_the_sample_duplicate_groups_keep_one_page_each(sample_dedup):
    store, runs, outputs = sample_dedup
    results = outputs.dedup
    inputs = {d["url"]: d["id"] for refs in runs.values() for d in read(store, [refs["filter"]], "documents")}
    kept = {d["url"]: d["id"] for d in read(store, results.values(), "documents")}
    removed = {d["url"]: d for d in read(store, results.values(), "removed")}
    checked = {EXACT: 0, NEAR: 0}
    in_groups = set()
    for field, reason in (("duplicate_of", EXACT), ("near_duplicate_of", NEAR)):
        for urls in groups(field).values():
            present = urls & set(inputs)  # the French and German groups do not pass the language filter
            in_groups |= present
            if len(present) < 2:
                continue
            [survivor] = present & set(kept)
            for url in present - {survivor}:
                assert removed[url]["duplicate_of"] == kept[survivor] and removed[url]["reason"] == reason, url
                checked[reason] += 1
    assert checked == {EXACT: 4, NEAR: 8}
    # Beyond the groups, at most one LSH false positive: with seed 1, two cooking pages that
    # share stock sentences (5-gram Jaccard 0.21) agree on all 8 hashes of one bucket, a
    # 1-in-20,000 event for that pair (0.035 expected over the sample's 12,000 pairs).
    extra = [d for url, d in removed.items() if url not in in_groups]
    assert len(extra) <= 1 and all(d["reason"] == NEAR for d in extra)


def test_sample_counts_add_up_and_removed_documents_name_the_kept_one(sample_dedup):
    store, runs, outputs = sample_dedup
    totals: dict[str, int] = defaultdict(int)
    all_kept, all_removed = set(), []
    for path in PATHS:
        filter_ref, ref = runs[path.rsplit("/", 1)[-1]]["filter"], outputs.dedup[path]
        counts = ref.counts
        check_balance(counts)
        assert counts["read"] == filter_ref.counts["kept"]
        inputs = {d["id"] for d in read(store, [filter_ref], "documents")}
        kept = {d["id"] for d in read(store, [ref], "documents")}
        removed = read(store, [ref], "removed")
        assert len(kept) == counts["kept"] and len(removed) == counts["read"] - counts["kept"]
        assert kept | {d["id"] for d in removed} == inputs and not kept & {d["id"] for d in removed}
        for key, value in counts.items():
            totals[key] += value
        all_kept |= kept
        all_removed += removed
        with store.open(ref.path(next(f for f in ref.files if f.startswith("removed-")))) as f:
            assert pq.ParquetFile(f).schema_arrow.equals(REMOVED)
    assert all(d["duplicate_of"] in all_kept for d in all_removed)
    assert {d["reason"] for d in all_removed} == {EXACT, NEAR}
    # The run's clusters output holds the same totals; the signatures cover every document.
    [clusters] = outputs.clusters.values()
    assert clusters.counts == dict(totals)
    assert sum(r.counts["documents"] for r in outputs.signatures.values()) == totals["read"]


def test_signatures_are_datatroves(sample_dedup):
    """Shingles and signatures are bit for bit those of datatrove's MinhashDedupSignature."""
    import xxhash
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.text import simplify_text

    theirs = MinhashDedupSignature(output_folder="memory://datatrove-reference", config=MinhashConfig())
    theirs._hash_func = lambda text: xxhash.xxh64_intdigest(text.encode())  # xxhash 4 wants bytes
    ours = signer_for(MinhashParams())
    rng = random.Random(6)
    noise = ["".join(rng.choice("aé\u0301 \n\t.,“”0123Ωж漢\u00a0-") for _ in range(rng.randint(0, 40)))
             for _ in range(300)]
    assert all(ours.simplify(text) == simplify_text(text) for text in noise)
    texts = [d["text"] for d in sample_documents()][::3] + TRICKY + noise[:30]
    for text in texts:
        assert ours.words(simplify_text(text)) == theirs.word_tokenizer.word_tokenize(simplify_text(text))
        assert np.array_equal(ours.shingles(text), theirs.get_shingles(text))
        if ours.shingles(text).size:
            assert ours.sign(text).tolist() == [h for band in theirs.get_signature(theirs.get_shingles(text))
                                                for h in band]


# Scope, planning, refusals


def test_scope_crawl_dedups_each_crawl_alone_and_run_across(tmp_path):
    rng = random.Random(3)
    text = prose(rng, 250)
    a = [doc("a-copy-1", text, "CC-A", 5), doc("a-copy-2", text, "CC-A", 1)] + \
        [doc(f"a-{i}", prose(rng, 250), "CC-A") for i in range(5)]
    b = [doc("b-copy", text, "CC-B", 0)] + [doc(f"b-{i}", prose(rng, 250), "CC-B") for i in range(5)]
    storage = StorageConfig(root=str(tmp_path))
    store = Store(storage)
    refs_a = filtered(storage, a, 2, crawl="CC-A")
    refs_b = filtered(storage, b, 2, crawl="CC-B")

    per_crawl = plan_dedup(storage, DedupSettings(), refs_a + refs_b)
    assert sorted(per_crawl.groups) == ["CC-A", "CC-B"]
    only_a = plan_dedup(storage, DedupSettings(), refs_a)
    # Adding a crawl changes nothing of the other's clusters: same job, same key.
    assert CLUSTERS.key(only_a.clusters["CC-A"].model_copy(update={"sources": []})) == \
        CLUSTERS.key(per_crawl.clusters["CC-A"].model_copy(update={"sources": []}))
    results = run_dedup(per_crawl, {r.shard: r for r in refs_a + refs_b}).dedup
    assert {(d["id"], d["duplicate_of"]) for d in read(store, results.values(), "removed")} == {
        ("a-copy-1", "a-copy-2")}

    across = plan_dedup(storage, DedupSettings(scope="run"), refs_a + refs_b)
    assert list(across.groups) == ["run"]
    results = run_dedup(across, {r.shard: r for r in refs_a + refs_b}).dedup
    assert {(d["id"], d["duplicate_of"]) for d in read(store, results.values(), "removed")} == {
        ("a-copy-1", "b-copy"), ("a-copy-2", "b-copy")}

    # Scope crawl holds inside one clusters job too: documents of other crawls never match.
    mixed = plan_dedup(storage, DedupSettings(), refs_a + refs_b, crawl_of=lambda shard: "all")
    assert list(mixed.groups) == ["all"]
    results = run_dedup(mixed, {r.shard: r for r in refs_a + refs_b}).dedup
    assert {d["id"] for d in read(store, results.values(), "removed")} == {"a-copy-1"}


def test_cluster_key_ignores_the_order_of_its_sources(tmp_path):
    storage = StorageConfig(root=str(tmp_path))
    refs = filtered(storage, [doc(f"d{i}", prose(random.Random(i), 50)) for i in range(6)], 3)
    plan = plan_dedup(storage, DedupSettings(), refs)
    sigs = [SIGNATURES.run(plan.signatures[r.shard].model_copy(update={"sources": [r]})) for r in refs]
    [job] = plan.clusters.values()
    forward = job.model_copy(update={"sources": sigs})
    backward = job.model_copy(update={"sources": sigs[::-1]})
    assert CLUSTERS.key(forward) == CLUSTERS.key(backward)
    # Settings that do not change signatures keep their key.
    other = plan_dedup(storage, DedupSettings(scope="run", rows_per_file=7), refs)
    assert SIGNATURES.key(plan.signatures[refs[0].shard]) == SIGNATURES.key(other.signatures[refs[0].shard])
    assert SIGNATURES.key(plan.signatures[refs[0].shard]) != SIGNATURES.key(
        plan_dedup(storage, DedupSettings(seed=2), refs).signatures[refs[0].shard])


def test_refuses_a_shard_the_clusters_do_not_cover_and_lying_counts(tmp_path):
    storage = StorageConfig(root=str(tmp_path))
    rng = random.Random(4)
    refs = filtered(storage, [doc(f"d{i}", prose(rng, 60)) for i in range(8)], 2)
    plan = plan_dedup(storage, DedupSettings(), refs[:1])
    outputs = run_dedup(plan, {r.shard: r for r in refs[:1]})
    [clusters] = outputs.clusters.values()
    stranger = DedupJob(storage=storage, shard=refs[1].shard, sources=[refs[1], clusters])
    with pytest.raises(PermanentError, match="does not cover"):
        DEDUP.run(stranger)
    lying = refs[1].model_copy(update={"counts": {"read": 99, "kept": 99}})
    with pytest.raises(AccountingError, match="the stage before kept 99"):
        SIGNATURES.run(plan_dedup(storage, DedupSettings(), refs).signatures[refs[1].shard].model_copy(
            update={"sources": [lying]}))


def test_union_find_and_equal_rows():
    uf = UnionFind(8)
    uf.union(np.array([7, 5, 3]), np.array([5, 3, 1]))
    uf.union(np.array([6]), np.array([2]))
    assert uf.roots().tolist() == [0, 1, 2, 1, 4, 1, 2, 1]
    # A long chain in one batch (each node hooked under the next smaller) stays fast.
    chain = UnionFind(100_000)
    chain.union(np.arange(1, 100_000), np.arange(99_999))
    assert not chain.roots().any()
    # Random edges: the same sets as a plain union-find, each rooted at its smallest member.
    rng = np.random.default_rng(0)
    u, v = rng.integers(0, 3000, 2000), rng.integers(0, 3000, 2000)
    plain = list(range(3000))

    def root(x: int) -> int:
        while plain[x] != x:
            x = plain[x]
        return x
    for a, b in zip(u.tolist(), v.tolist()):
        ra, rb = root(a), root(b)
        plain[max(ra, rb)] = min(ra, rb)
    batched = UnionFind(3000)
    for part in range(4):
        batched.union(u[part::4], v[part::4])
    assert batched.roots().tolist() == [root(x) for x in range(3000)]
    keys = np.array([[1, 2], [3, 4], [1, 2], [1, 3], [1, 2]], dtype=np.uint64)
    u, v = equal_row_pairs(keys, np.arange(5))
    assert sorted(zip(u.tolist(), v.tolist())) == [(0, 2), (0, 4)]
    u, v = equal_row_pairs(keys, np.arange(5), groups=np.array([0, 0, 1, 0, 1]))
    assert sorted(zip(u.tolist(), v.tolist())) == [(2, 4)]


# Prefect


@flow(name="dedup-test")
def dedup_flow(storage: StorageConfig, filters: list[OutputRef]) -> list[OutputRef]:
    plan = plan_dedup(storage, DedupSettings(), filters)
    futures = submit_dedup(plan, {r.shard: r for r in filters})
    return [futures[shard].result() for shard in sorted(futures)]


@pytest.mark.usefixtures("prefect_api")
def test_prefect_tasks_run_once_then_are_cached(tmp_path):
    rng = random.Random(5)
    text = prose(rng, 120)
    docs = [doc(f"d{i}", prose(rng, 120), minutes=i) for i in range(30)] + [doc("copy", text), doc("orig", text)]
    storage = StorageConfig(root=str(tmp_path))
    filters = filtered(storage, docs, 3)
    first = dedup_flow(storage, filters, return_state=True)
    assert first.is_completed()
    states = task_states(first.state_details.flow_run_id)
    assert sorted(states.values()) == ["Completed"] * 7
    assert {name.split(" ")[0] for name in states} == {"dedup-signatures", "dedup-clusters", "dedup"}
    again = dedup_flow(storage, filters, return_state=True)
    assert sorted(task_states(again.state_details.flow_run_id).values()) == ["Cached"] * 7
    assert [r.digest for r in again.result()] == [r.digest for r in first.result()]
    assert sum(r.counts.get(f"rejected:{EXACT}", 0) for r in first.result()) == 1
