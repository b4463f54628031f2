"""The dedup stage: exact, then MinHash near-duplicates, across all shards of a run.

Three stages in the stage pattern, so the work fans out over shards wherever it can:

1. `dedup-signatures`, one per filter shard (sources: [that filter output]): per document a
   128-bit hash of its normalized text and FineWeb's MinHash signature (5-word shingles,
   14 buckets of 8 hashes, datatrove's code: see tasks/minhash.py). Writes `docs.parquet`
   (row, id, crawl, date, exact hash) and `bucket-000.minhash.sig`... (datatrove's record
   layout, sorted per bucket). Memory: the signatures of one shard (~2 KB a document),
   and one batch of its text.
2. `dedup-clusters`, once per run, or once per crawl (sources: the signature outputs of
   the shards, in any order). Rows with equal text hashes and rows sharing a band are
   joined (union-find); in every cluster the earliest document by (date, id) is kept,
   whatever the order of the shards, so reruns give the same output. Writes, per shard,
   `removals-{filter digest}.parquet`: row, id, `duplicate_of` (the id kept) and `reason`.
   Memory: about 120 bytes per document (one bucket's records of every shard at a time,
   68 bytes each, their sort, one parent pointer per document) plus the ids of the
   documents that are in clusters; never any text.
3. `dedup`, one per filter shard (sources: [the filter output, the clusters output]):
   streams the shard, writes the kept documents as `documents-*.parquet` and the removed
   ones as `removed-*.parquet` (REJECTED's columns + `duplicate_of`).

`reason` is `exact_duplicate` when the removed document's normalized text hashes the same
as the kept one's, else `near_duplicate`. Counts: read = kept + rejected:exact_duplicate +
rejected:near_duplicate, per shard and for the clusters of the run, and what a shard reads
is what its filter kept.

Scope (`DedupSettings.scope`): `crawl` (the default, as FineWeb) deduplicates each crawl on
its own; a document is compared only with documents of its crawl, and adding a crawl
leaves the outputs of the others as they are (cached). `run` deduplicates everything
given together, across crawls: the earliest copy anywhere is kept. Either way a stage
deduplicates against what it is given, nothing else in storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import ConfigDict, Field

from storage import OutputWriter, StorageConfig, Store
from storage.parquet import DOCUMENTS, REJECTED, ShardWriter, document_files, iter_batches
from tasks.accounting import AccountingError, Tally, check_handover
from tasks.minhash import (ExactNormalization, MinhashParams, UnionFind, equal_row_pairs,
                           exact_hash, normalize_for_exact, signer_for, sorted_bucket)
from tasks.stage import (OutputRef, PermanentError, Stage, StageContext, StageJob, StageResult, committed_ref,
                         stage_task)

EXACT = "exact_duplicate"
NEAR = "near_duplicate"
# Removed documents: every column of a rejected one, and the id of the document kept.
REMOVED = pa.schema([*REJECTED, pa.field("duplicate_of", pa.string(), nullable=False)])
DOCS_TABLE = pa.schema([
    pa.field("row", pa.uint32(), nullable=False),
    pa.field("id", pa.string(), nullable=False),
    pa.field("crawl", pa.string()),
    pa.field("date", pa.timestamp("ms", tz="UTC")),
    pa.field("exact", pa.binary(16), nullable=False),
    pa.field("signed", pa.bool_(), nullable=False),
])
REMOVALS = pa.schema([
    pa.field("row", pa.uint32(), nullable=False),
    pa.field("id", pa.string(), nullable=False),
    pa.field("duplicate_of", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
])
DOCS_FILE = "docs.parquet"


def bucket_file(bucket: int) -> str:
    return f"bucket-{bucket:03d}.minhash.sig"


def removals_file(filter_digest: str) -> str:
    return f"removals-{filter_digest}.parquet"


class DedupSettings(MinhashParams):
    """Exact and MinHash deduplication; FineWeb's MinHash parameters (inherited from
    `MinhashParams`: n_grams, num_buckets, hashes_per_bucket, seed, ...) are the defaults.

    In every group of duplicates the earliest document by (date, id) is kept (documents
    without a date come last), so the choice does not depend on sharding or reruns.
    A pair with Jaccard similarity s of its shingle sets is caught with probability
    1 - (1 - s^hashes_per_bucket)^num_buckets: for 14 x 8, 56% at 0.70, 77% at 0.75,
    92% at 0.80, 98.8% at 0.85, 5% at 0.5.
    """

    model_config = ConfigDict(extra="forbid", frozen=False)

    enabled: bool = Field(True, description="Off: the filter's documents go on as they are")
    scope: Literal["crawl", "run"] = Field(
        "crawl", description="crawl: each crawl deduplicated on its own, as FineWeb (adding a crawl recomputes "
                             "nothing of the others); run: everything given deduplicated together, across crawls")
    exact: bool = Field(True, description="Remove documents whose normalized text hashes the same")
    exact_normalization: ExactNormalization = Field(
        "whitespace", description="none: text as extracted; whitespace: NFC and runs of whitespace as one space; "
                                  "minhash: the MinHash simplification (case, punctuation, numbers, diacritics)")
    near: bool = Field(True, description="Remove MinHash near-duplicates")
    rows_per_file: int = Field(100_000, ge=1)
    batch_size: int = Field(1024, ge=1)

    def minhash(self) -> MinhashParams:
        return MinhashParams(**self.model_dump(include=set(MinhashParams.model_fields)))

    def detection_probability(self, similarity: float) -> float:
        from tasks.minhash import detection_probability

        return detection_probability(similarity, self.num_buckets, self.hashes_per_bucket)


# What each stage's output depends on: its key holds these settings and no others.
SIGNATURE_SETTINGS = {"exact_normalization", "near", "n_grams", "num_buckets", "hashes_per_bucket", "seed",
                      "hash_function", "hash_bits", "language", "normalization"}
CLUSTER_SETTINGS = {"scope", "exact", "near", "num_buckets", "hashes_per_bucket", "hash_bits"}
DEDUP_SETTINGS = {"rows_per_file"}


class _DedupJob(StageJob):
    settings: DedupSettings = Field(default_factory=DedupSettings)
    key_settings: ClassVar[set[str]] = set()

    def output_config(self) -> dict[str, Any]:
        return {"shard": self.shard, "settings": self.settings.model_dump(mode="json", include=self.key_settings)}


class SignaturesJob(_DedupJob):
    """sources = [the committed filter output of one shard]."""

    key_settings: ClassVar[set[str]] = SIGNATURE_SETTINGS


class ClustersJob(_DedupJob):
    """sources = the signature outputs of every shard deduplicated together, in any order."""

    key_settings: ClassVar[set[str]] = CLUSTER_SETTINGS

    @property
    def inputs(self) -> list[str]:
        return sorted(ref.digest for ref in self.sources)


class DedupJob(_DedupJob):
    """sources = [the filter output of one shard, the clusters output that covers it]."""

    key_settings: ClassVar[set[str]] = DEDUP_SETTINGS


# Stage 1: signatures


def compute_signatures(job: SignaturesJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    [source] = job.sources
    settings = job.settings
    params = settings.minhash()
    signer = signer_for(params) if settings.near else None
    store = Store(job.storage)
    total = source.counts.get("kept")
    ids: list[str] = []
    crawls: list[str | None] = []
    dates: list[pa.Array] = []
    hashes: list[bytes] = []
    signed_flags: list[bool] = []
    errors = 0
    signed_rows: list[int] = []
    signatures: list[np.ndarray] = []
    for name in document_files(source.files):
        try:
            for batch in iter_batches(store, source.path(name), columns=["id", "crawl", "date", "text"],
                                      batch_size=settings.batch_size):
                dates.append(batch.column("date").cast(pa.timestamp("ms", tz="UTC")))
                crawls.extend(batch.column("crawl").to_pylist())
                for doc_id, text in zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()):
                    text = text or ""
                    hashes.append(exact_hash(normalize_for_exact(text, settings.exact_normalization,
                                                                 settings.normalization)))
                    sig = None
                    if signer is not None:
                        try:
                            sig = signer.sign(text)
                        except Exception as exc:  # noqa: BLE001 - one bad document never kills the shard
                            ctx.logger.warning("%s: no signature (%s: %s); exact dedup only", doc_id,
                                               type(exc).__name__, exc)
                            errors += 1
                    if sig is not None:
                        signed_rows.append(len(ids))
                        signatures.append(sig)
                    signed_flags.append(sig is not None)
                    ids.append(doc_id)
                ctx.progress(len(ids), total, unit="doc")
        except (OSError, pa.ArrowInvalid) as exc:
            raise PermanentError(f"cannot read documents file {source.uri}/{name}: {exc}") from exc
    n = len(ids)
    check_handover(source.counts, {"read": n}, f"dedup-signatures {job.label}")
    signed = np.array(signed_flags, dtype=bool)
    table = pa.table({
        "row": pa.array(np.arange(n, dtype=np.uint32)),
        "id": pa.array(ids, pa.string()),
        "crawl": pa.array(crawls, pa.string()),
        "date": pa.concat_arrays(dates) if dates else pa.array([], pa.timestamp("ms", tz="UTC")),
        "exact": pa.array(hashes, pa.binary(16)),
        "signed": pa.array(signed),
    }, schema=DOCS_TABLE)
    with out.open(DOCS_FILE) as f:
        pq.write_table(table, f, compression="zstd")
    if settings.near:
        rows = np.array(signed_rows, dtype=np.uint32)
        matrix = (np.stack(signatures) if signatures
                  else np.zeros((0, params.num_hashes), dtype=params.hash_dtype))
        for bucket in range(params.num_buckets):
            with out.open(bucket_file(bucket)) as f:
                f.write(sorted_bucket(matrix, rows, bucket, params).tobytes())
    return StageResult(counts={"documents": n, "signed": int(signed.sum()), "sign_errors": errors},
                       extra={"crawls": sorted({c for c in crawls if c is not None})})


# Stage 2: clusters


@dataclass
class _Shard:
    ref: OutputRef
    filter_digest: str
    offset: int
    size: int


def _shards(job: ClustersJob, store: Store) -> list[_Shard]:
    shards, offset = [], 0
    for ref in sorted(job.sources, key=lambda r: r.digest):
        if ref.stage != SIGNATURES.name:
            raise PermanentError(f"dedup-clusters reads {SIGNATURES.name} outputs, not {ref.stage} ({ref.uri})")
        manifest = store.output(ref.stage, ref.key).read_manifest()
        if manifest is None or len(manifest.inputs) != 1:
            raise PermanentError(f"{ref.uri}: no readable manifest naming its filter output")
        size = int(ref.counts["documents"])
        shards.append(_Shard(ref=ref, filter_digest=manifest.inputs[0], offset=offset, size=size))
        offset += size
    digests = [s.filter_digest for s in shards]
    if len(set(digests)) != len(digests):
        raise PermanentError("dedup-clusters was given the same filter output twice")
    return shards


def _read_docs(store: Store, shard: _Shard, columns: list[str]) -> pa.Table:
    with store.open(shard.ref.path(DOCS_FILE), "rb") as f:
        table = pq.read_table(f, columns=columns)
    if table.num_rows != shard.size:
        raise AccountingError(f"{shard.ref.uri}: {table.num_rows} rows in {DOCS_FILE}, manifest says {shard.size}")
    return table


def _exact_keys(table: pa.Table) -> np.ndarray:
    data = table.column("exact").combine_chunks()
    raw = np.frombuffer(data.buffers()[1], dtype=np.uint8)[data.offset * 16:(data.offset + len(data)) * 16]
    return raw.view("<u8").reshape(-1, 2)


def find_clusters(job: ClustersJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    settings = job.settings
    params = settings.minhash()
    store = Store(job.storage)
    shards = _shards(job, store)
    n = sum(s.size for s in shards)
    uf = UnionFind(n)
    steps = int(settings.exact) + (params.num_buckets if settings.near else 0)
    done = 0

    groups = None
    if settings.scope == "crawl":
        # A crawl code per document: edges only join documents of the same crawl.
        codes: dict[str | None, int] = {}
        groups = np.empty(n, dtype=np.uint32)
        for s in shards:
            crawl = _read_docs(store, s, ["crawl"]).column("crawl").to_pylist()
            groups[s.offset:s.offset + s.size] = [codes.setdefault(c, len(codes)) for c in crawl]

    pairs = {"exact": 0, "near": 0}
    if settings.exact:
        keys = np.concatenate([_exact_keys(_read_docs(store, s, ["exact"])) for s in shards]) if shards \
            else np.zeros((0, 2), dtype="<u8")
        u, v = equal_row_pairs(keys, np.arange(n, dtype=np.int64), groups)
        del keys
        uf.union(u, v)
        pairs["exact"] = len(u)
        done += 1
        ctx.progress(done, steps, unit="step")
    if settings.near:
        dtype = params.record_dtype()
        signed = sum(int(s.ref.counts.get("signed", 0)) for s in shards)
        for bucket in range(params.num_buckets):
            # One bucket of every shard in one array: ~68 bytes a document, read shard by shard.
            records = np.empty(signed, dtype=dtype)
            nodes = np.empty(signed, dtype=np.int64)
            at = 0
            for s in shards:
                name = bucket_file(bucket)
                if name not in s.ref.files:
                    raise PermanentError(f"{s.ref.uri} has no {name}: signatures made with other settings")
                with store.open(s.ref.path(name), "rb") as f:
                    part = np.frombuffer(f.read(), dtype=dtype)
                if at + len(part) > signed:
                    raise AccountingError(f"{s.ref.uri}: more signatures in {name} than its manifest counts")
                records[at:at + len(part)] = part
                nodes[at:at + len(part)] = part["row"].astype(np.int64) + s.offset
                at += len(part)
            if at != signed:
                raise AccountingError(f"{job.label}: {at} signatures in bucket {bucket}, manifests count {signed}")
            u, v = equal_row_pairs(records["hashes"], nodes, None if groups is None else groups[nodes])
            del records, nodes
            uf.union(u, v)
            pairs["near"] += len(u)
            done += 1
            ctx.progress(done, steps, unit="step")
    del groups

    roots = uf.roots()
    sizes = np.bincount(roots, minlength=n) if n else np.zeros(0, dtype=np.int64)
    clustered = np.nonzero(sizes[roots] > 1)[0] if n else np.zeros(0, dtype=np.int64)
    removals, stats = _choose_kept(store, shards, roots, clustered, settings.exact)
    tally = Tally()
    tally.read(n)
    for s in shards:
        table = removals.get(s.filter_digest, _empty_removals())
        with out.open(removals_file(s.filter_digest)) as f:
            pq.write_table(table, f, compression="zstd")
        _reject(tally, table.column("reason"))
    removed = sum(t.num_rows for t in removals.values())
    tally.kept(n - removed)
    counts = tally.counts()
    clusters = int((sizes > 1).sum()) if n else 0
    ctx.logger.info("dedup-clusters %s: %d documents in %d shards, %d clusters (largest %d), %d removed",
                    job.label, n, len(shards), clusters, stats["largest"], removed)
    ctx.table("dedup-clusters", [{"outcome": k, "documents": v} for k, v in counts.items()],
              description=f"Deduplication of {job.label}: {len(shards)} shards, {clusters} clusters")
    return StageResult(counts=counts, extra={"shards": len(shards), "clusters": clusters,
                                             "largest_cluster": stats["largest"],
                                             "candidate_pairs": pairs})


def _reject(tally: Tally, reasons: pa.ChunkedArray | pa.Array) -> None:
    for item in pc.value_counts(reasons).to_pylist():
        # Tally counts one rejection per call; `add` on the same key counts many at once.
        tally.rejected(item["values"], item["counts"])


def _empty_removals() -> pa.Table:
    return REMOVALS.empty_table()


def _choose_kept(store: Store, shards: list[_Shard], roots: np.ndarray, clustered: np.ndarray,
                 exact: bool) -> tuple[dict[str, pa.Table], dict[str, int]]:
    """Keep the earliest document of each cluster by (date, id); name it in the others."""
    if not len(clustered):
        return {}, {"largest": 0}
    offsets = np.array([s.offset for s in shards], dtype=np.int64)
    parts = []
    for s in shards:
        lo, hi = np.searchsorted(clustered, [s.offset, s.offset + s.size])
        if lo == hi:
            continue
        rows = clustered[lo:hi] - s.offset
        table = _read_docs(store, s, ["id", "date", "exact"]).take(pa.array(rows))
        parts.append(table.append_column("node", pa.array(clustered[lo:hi])))
    members = pa.concat_tables(parts)
    members = members.append_column("root", pa.array(roots[members.column("node").to_numpy()]))
    # Nulls (no date) sort last; ties on (date, id) fall back to the node, fixed by digest order.
    members = members.sort_by([(column, "ascending", "at_end") for column in ("root", "date", "id", "node")])
    root = members.column("root").to_numpy()
    first = np.concatenate(([True], root[1:] != root[:-1]))
    kept_at = np.maximum.accumulate(np.where(first, np.arange(len(root)), 0))
    removed = np.nonzero(~first)[0]
    ids = members.column("id")
    keys = _exact_keys(members)
    same_text = (keys[removed] == keys[kept_at[removed]]).all(axis=1) if exact else np.zeros(len(removed), bool)
    node = members.column("node").to_numpy()[removed]
    table = pa.table({
        "node": node,
        "id": ids.take(pa.array(removed)),
        "duplicate_of": ids.take(pa.array(kept_at[removed])),
        "reason": pa.array(np.where(same_text, EXACT, NEAR).tolist(), pa.string()),
    })
    shard_of = np.searchsorted(offsets, node, side="right") - 1
    out: dict[str, pa.Table] = {}
    for i in np.unique(shard_of):
        s = shards[int(i)]
        part = table.filter(pa.array(shard_of == i))
        rows = part.column("node").to_numpy() - s.offset
        part = pa.table({"row": pa.array(rows.astype(np.uint32)), "id": part.column("id"),
                         "duplicate_of": part.column("duplicate_of"), "reason": part.column("reason")},
                        schema=REMOVALS)
        out[s.filter_digest] = part.sort_by("row")
    largest = int(np.bincount(np.unique(root, return_inverse=True)[1]).max())
    return out, {"largest": largest}


# Stage 3: the filter per shard


def remove_duplicates(job: DedupJob, out: OutputWriter, ctx: StageContext) -> StageResult:
    source, clusters = job.split_sources(CLUSTERS.name)
    store = Store(job.storage)
    name = removals_file(source.digest)
    if name not in clusters.files:
        raise PermanentError(f"{clusters.uri} does not cover {source.uri} (no {name}): "
                             "the clusters were computed without this shard")
    with store.open(clusters.path(name), "rb") as f:
        removals = pq.read_table(f)
    rows = removals.column("row").to_numpy().astype(np.int64)
    tally = Tally()
    tally.read(0)  # an empty shard still reports read 0, kept 0
    tally.kept(0)
    total = source.counts.get("kept")
    columns = [f.name for f in DOCUMENTS]
    start = 0
    rpf = job.settings.rows_per_file
    with ShardWriter(out, "documents", DOCUMENTS, max_rows=rpf) as kept, \
            ShardWriter(out, "removed", REMOVED, max_rows=rpf) as removed:
        for file in document_files(source.files):
            try:
                batches = iter_batches(store, source.path(file), columns=columns, batch_size=job.settings.batch_size)
                for batch in batches:
                    m = batch.num_rows
                    tally.read(m)
                    lo, hi = np.searchsorted(rows, [start, start + m])
                    if lo == hi:
                        kept.write_batch(batch)
                        tally.kept(m)
                    else:
                        local = rows[lo:hi] - start
                        gone = removals.slice(lo, hi - lo)
                        if not batch.column("id").take(pa.array(local)).equals(gone.column("id").combine_chunks()):
                            raise AccountingError(f"dedup {job.label}: the documents of {source.uri} are not in "
                                                  f"the order their signatures were made in (rows {lo}..{hi})")
                        mask = np.zeros(m, dtype=bool)
                        mask[local] = True
                        kept.write_batch(batch.filter(pa.array(~mask)))
                        tally.kept(m - len(local))
                        taken = pa.Table.from_batches([batch]).take(pa.array(local))
                        taken = taken.append_column("reason", gone.column("reason"))
                        taken = taken.append_column("duplicate_of", gone.column("duplicate_of"))
                        removed.write_batch(taken.select(REMOVED.names))
                        _reject(tally, gone.column("reason"))
                    start += m
                    ctx.progress(start, total, unit="doc")
            except (OSError, pa.ArrowInvalid) as exc:
                raise PermanentError(f"cannot read documents file {source.uri}/{file}: {exc}") from exc
    if start < (int(rows[-1]) + 1 if len(rows) else 0):
        raise AccountingError(f"dedup {job.label}: removals name row {int(rows[-1])} of {source.uri}, "
                              f"which has {start} documents")
    counts = tally.counts()
    check_handover(source.counts, counts, f"dedup {job.label}")
    return StageResult(counts=counts)


SIGNATURES = Stage(name="dedup-signatures", version="1", work=compute_signatures)
CLUSTERS = Stage(name="dedup-clusters", version="1", work=find_clusters)
DEDUP = Stage(name="dedup", version="1", work=remove_duplicates)
signatures_task = stage_task(SIGNATURES)
clusters_task = stage_task(CLUSTERS)
dedup_task = stage_task(DEDUP)
# (stage, Prefect task), in order: for a flow binding them with `for_storage` and its retry options.
DEDUP_STAGES = [(SIGNATURES, signatures_task), (CLUSTERS, clusters_task), (DEDUP, dedup_task)]


# Planning: the jobs of a run


CRAWL_IN_PATH = re.compile(r"crawl-data/([^/]+)/")
RUN_GROUP = "run"


def crawl_of_path(shard: str) -> str | None:
    """The crawl id in a Common Crawl WARC path (`crawl-data/CC-MAIN-2024-10/...`), if any."""
    match = CRAWL_IN_PATH.search(shard)
    return match.group(1) if match else None


@dataclass
class DedupPlan:
    """The jobs of one run's dedup, by shard (the filter job's shard, a WARC path).

    `groups` maps each clusters job's name to the shards it deduplicates together: one
    group per crawl with scope `crawl`, a single group with scope `run`.
    """

    signatures: dict[str, SignaturesJob] = field(default_factory=dict)
    clusters: dict[str, ClustersJob] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    dedup: dict[str, DedupJob] = field(default_factory=dict)

    def group_of(self, shard: str) -> str:
        for name, shards in self.groups.items():
            if shard in shards:
                return name
        raise KeyError(shard)


def plan_dedup(storage: StorageConfig, settings: DedupSettings, shards: Iterable[str | OutputRef],
               crawl_of: Callable[[str], str | None] | Mapping[str, str] | None = None) -> DedupPlan:
    """The jobs for deduplicating these shards (filter outputs or their shard names), without
    their sources: the caller supplies them (`run_dedup`, `submit_dedup`).

    With scope `crawl`, shards are grouped by `crawl_of(shard)` (default: the crawl id in the
    WARC path; a shard without one goes in the group `run`).
    """
    names = sorted({s.shard if isinstance(s, OutputRef) else s for s in shards})
    if not settings.enabled:
        return DedupPlan()
    lookup = crawl_of.get if isinstance(crawl_of, Mapping) else (crawl_of or crawl_of_path)
    plan = DedupPlan()
    for shard in names:
        group = (lookup(shard) or RUN_GROUP) if settings.scope == "crawl" else RUN_GROUP
        plan.groups.setdefault(group, []).append(shard)
        plan.signatures[shard] = SignaturesJob(storage=storage, shard=shard, settings=settings)
        plan.dedup[shard] = DedupJob(storage=storage, shard=shard, settings=settings)
    for group in plan.groups:
        plan.clusters[group] = ClustersJob(storage=storage, shard=group, settings=settings)
    return plan


@dataclass
class DedupOutputs:
    """What `run_dedup` made: the outputs of each stage, by shard or by group."""

    signatures: dict[str, OutputRef] = field(default_factory=dict)
    clusters: dict[str, OutputRef] = field(default_factory=dict)
    dedup: dict[str, OutputRef] = field(default_factory=dict)


def run_dedup(plan: DedupPlan, filter_outputs: Mapping[str, OutputRef],
              ctx: Callable[[str, str], StageContext] | None = None) -> DedupOutputs:
    """Run the plan without Prefect, one job after another (tests, benchmarks, scripts)."""
    def context(stage: Stage, job: StageJob) -> StageContext | None:
        return ctx(stage.name, job.label) if ctx else None

    outputs = DedupOutputs()
    for shard, job in plan.signatures.items():
        job = job.model_copy(update={"sources": [filter_outputs[shard]]})
        outputs.signatures[shard] = SIGNATURES.run(job, context(SIGNATURES, job))
    for group, shards in plan.groups.items():
        job = plan.clusters[group].model_copy(update={"sources": [outputs.signatures[s] for s in shards]})
        clusters = outputs.clusters[group] = CLUSTERS.run(job, context(CLUSTERS, job))
        for shard in shards:
            job = plan.dedup[shard].model_copy(update={"sources": [filter_outputs[shard], clusters]})
            outputs.dedup[shard] = DEDUP.run(job, context(DEDUP, job))
    return outputs


def committed_dedup(plan: DedupPlan, filter_outputs: Mapping[str, OutputRef]) -> DedupOutputs | None:
    """The plan's outputs if every one is already committed in storage, running nothing
    (a flow that starts after dedup reads them; None if any is missing)."""
    outputs = DedupOutputs()
    for shard, job in plan.signatures.items():
        ref = committed_ref(SIGNATURES, job.model_copy(update={"sources": [filter_outputs[shard]]}))
        if ref is None:
            return None
        outputs.signatures[shard] = ref
    for group, shards in plan.groups.items():
        job = plan.clusters[group].model_copy(update={"sources": [outputs.signatures[s] for s in shards]})
        clusters = committed_ref(CLUSTERS, job)
        if clusters is None:
            return None
        outputs.clusters[group] = clusters
        for shard in shards:
            ref = committed_ref(DEDUP, plan.dedup[shard].model_copy(
                update={"sources": [filter_outputs[shard], clusters]}))
            if ref is None:
                return None
            outputs.dedup[shard] = ref
    return outputs


def submit_dedup(plan: DedupPlan, filter_outputs: Mapping[str, Any], tasks: Mapping[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Submit the plan's tasks inside a flow; the future of the dedup output per shard.

    `filter_outputs` may hold OutputRefs or the futures of the filter tasks: signatures
    start as each shard's filter finishes, clusters wait for all the signatures of their
    group, the per-shard dedup for its clusters. `tasks` maps stage names to the Prefect
    tasks to use (bound to the storage root with `for_storage`); by default this module's
    tasks bound to the plan's storage.
    """
    if tasks is None:
        from tasks.stage import for_storage

        any_job = next(iter(plan.signatures.values()), None)
        if any_job is None:
            return {}
        tasks = {stage.name: for_storage(t, any_job.storage) for stage, t in DEDUP_STAGES}
    signatures = {shard: tasks[SIGNATURES.name].submit(job, sources=[filter_outputs[shard]])
                  for shard, job in plan.signatures.items()}
    results = {}
    for group, shards in plan.groups.items():
        clusters = tasks[CLUSTERS.name].submit(plan.clusters[group], sources=[signatures[s] for s in shards])
        for shard in shards:
            results[shard] = tasks[DEDUP.name].submit(plan.dedup[shard], sources=[filter_outputs[shard], clusters])
    return results
