"""MinHash building blocks of the dedup stage, on top of datatrove's.

Taken from datatrove as they are (`datatrove.pipeline.dedup.minhash` and its utils):
`MinhashConfig`, the 112 hash permutations drawn from the seed and the signature
arithmetic (`MinhashDedupSignature.parameters` / `get_signature`), text simplification
(`simplify_text`, `TextNormConfig`), `ngrams`, the shingle hash (`create_hash_func`), the
word tokenizer (`load_word_tokenizer`) and the signature file layout (datatrove's
`.minhash.sig` record: `hashes_per_bucket` hashes then the uint32 document index,
little-endian, sorted), so a signature here is bit for bit the one datatrove computes.

Written here, because datatrove's versions do not fit the stage pattern or are slow:
- `Signer.shingles`: datatrove's `get_shingles` with three changes that leave its output
  bit for bit the same (tests/test_dedup.py compares them). Words: spaCy splits text at
  spaces and tokenizes each piece alone, so the tokens of each piece are remembered and
  only new pieces go through spaCy's tokenizer, in one call per document, instead of the
  whole blank pipeline with its sentencizer that `word_tokenize` runs on every document
  (about 30 times faster). Diacritics: `simplify_text`'s last step walks the text a
  character at a time in Python; it is skipped when the simplified text is ASCII. Hash:
  strings are UTF-8-encoded before xxhash, which xxhash 4 requires (datatrove 0.10 hands
  it `str` and fails, huggingface/datatrove#508; xxhash 3 encoded UTF-8 itself, so the
  values are those of datatrove with xxhash 3). Each thread gets its own spaCy pipeline:
  threads never share a vocabulary (spaCy is not thread-safe).
- `equal_row_pairs`: the bucket step (datatrove's `MinhashDedupBuckets` merges sorted
  files with a Python heap), vectorized: rows with equal keys (a band of 8 hashes, or a
  text hash) become edges, each to the first row of its group.
- `UnionFind`: the cluster step in numpy, each set rooted at its smallest document,
  8 bytes per document (datatrove's `MinhashDedupCluster` is a Python dict).
"""

from __future__ import annotations

import dataclasses
import threading
import unicodedata
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

ExactNormalization = Literal["none", "whitespace", "minhash"]


class TextNormSettings(BaseModel):
    """datatrove's `TextNormConfig`: how text is simplified before shingling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lowercase: bool = True
    norm_whitespace: bool = True
    remove_punctuation: bool = True
    norm_unicode_diacritics: bool = True
    norm_numbers: bool = Field(True, description="Every number becomes 0")
    norm_weekdays: bool = False
    norm_monthnames: bool = False

    def config(self) -> Any:
        from datatrove.utils.text import TextNormConfig

        return TextNormConfig(**self.model_dump())


class MinhashParams(BaseModel):
    """What a signature is made of. FineWeb's values are the defaults: 5-word shingles,
    14 buckets of 8 hashes (112 in all), 64-bit xxhash, seed 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_grams: int = Field(5, ge=1, description="Words per shingle")
    num_buckets: int = Field(14, ge=1, description="LSH bands; a pair is a candidate if any band matches")
    hashes_per_bucket: int = Field(8, ge=1, description="Hashes per band; all must match")
    seed: int = Field(1, ge=0, description="Draws the hash permutations; the same for every shard of a run")
    hash_function: Literal["xxhash", "sha1"] = "xxhash"
    hash_bits: Literal[32, 64] = 64
    language: str = Field("en", description="Language of datatrove's word tokenizer used for shingles")
    normalization: TextNormSettings = Field(default_factory=TextNormSettings)

    @property
    def num_hashes(self) -> int:
        return self.num_buckets * self.hashes_per_bucket

    @property
    def hash_dtype(self) -> np.dtype:
        return np.dtype("<u8" if self.hash_bits == 64 else "<u4")

    def record_dtype(self) -> np.dtype:
        """One record of a bucket file: datatrove's `<{hashes_per_bucket}QI` layout."""
        return np.dtype([("hashes", self.hash_dtype, (self.hashes_per_bucket,)), ("row", "<u4")])

    def config(self) -> Any:
        from datatrove.pipeline.dedup.minhash import MinhashConfig
        from datatrove.utils.hashing import HashConfig

        return MinhashConfig(n_grams=self.n_grams, num_buckets=self.num_buckets,
                             hashes_per_bucket=self.hashes_per_bucket, seed=self.seed,
                             norm_config=self.normalization.config(),
                             hash_config=HashConfig(precision=self.hash_bits, hash_fc=self.hash_function))


def detection_probability(similarity: float, num_buckets: int = 14, hashes_per_bucket: int = 8) -> float:
    """Chance that a pair with this Jaccard similarity of shingle sets shares a band."""
    return 1.0 - (1.0 - similarity**hashes_per_bucket) ** num_buckets


def threshold(num_buckets: int = 14, hashes_per_bucket: int = 8) -> float:
    """The similarity where detection rises fastest, (1/b)^(1/r): 0.72 for 14 x 8."""
    return (1.0 / num_buckets) ** (1.0 / hashes_per_bucket)


def utf8_hash(hash_config: Any):
    """datatrove's shingle hash, fed UTF-8 bytes (what xxhash 3 did with `str` itself)."""
    from datatrove.utils.hashing import create_hash_func

    hash_bytes = create_hash_func(hash_config, bytes)
    return lambda text: hash_bytes(text.encode("utf-8"))


class Signer:
    """Shingles and MinHash signatures of documents, as datatrove computes them."""

    def __init__(self, params: MinhashParams) -> None:
        from datatrove.pipeline.dedup.minhash import MinhashDedupSignature
        from datatrove.utils.word_tokenizers import load_word_tokenizer

        self.params = params
        self.config = params.config()
        # The datatrove step supplies its permutations and `get_signature`; its output
        # folder is never written to.
        self.step = MinhashDedupSignature(output_folder="memory://fineflow-unused", config=self.config,
                                          language=params.language)
        self.step._hash_func = utf8_hash(self.config.hash_config)
        # A tokenizer of our own, not the process-wide cached one datatrove's filters share.
        make = getattr(load_word_tokenizer, "__wrapped__", load_word_tokenizer)
        self.word_tokenizer = make(params.language)
        self.step.word_tokenizer = self.word_tokenizer
        self._hash = self.step._hash_func
        self._pieces: dict[str, tuple[str, ...]] = {}
        norm = self.config.norm_config
        self._drop_marks = norm.norm_unicode_diacritics
        self._norm_keep_marks = dataclasses.replace(norm, norm_unicode_diacritics=False)

    max_cached_pieces = 500_000

    def simplify(self, text: str) -> str:
        """datatrove's `simplify_text(text, norm_config)`.

        Its last step, dropping diacritics (NFD, then every combining mark), goes through
        the text a character at a time in Python; ASCII text has none, so that step runs
        only on text that is not ASCII by then (punctuation already removed). Same result.
        """
        from datatrove.utils.text import simplify_text

        if not self._drop_marks:
            return simplify_text(text, self.config.norm_config)
        text = simplify_text(text, self._norm_keep_marks)
        if text.isascii():
            return text
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn").strip()

    def words(self, simplified: str) -> list[str]:
        """`word_tokenizer.word_tokenize(simplified)`, faster for spaCy.

        spaCy's tokenizer splits the text at spaces first and tokenizes each piece on its
        own (its special cases cannot contain a space), so the tokens of a piece are
        remembered and looked up, and only pieces not seen before go through spaCy's
        tokenizer (not the whole blank pipeline with the sentencizer that `word_tokenize`
        runs). The tokens are the same; tests/test_dedup.py checks it.
        """
        from datatrove.utils.word_tokenizers import SpaCyTokenizer

        tok = self.word_tokenizer
        if not (isinstance(tok, SpaCyTokenizer) and tok.language not in ("ja", "zh", "vi")):
            return tok.word_tokenize(simplified)
        pieces = simplified.split(" ")
        known = self._pieces
        missing = [p for p in dict.fromkeys(pieces) if p and p not in known]
        if missing:
            try:
                self._tokenize_pieces(missing)
            except Exception:  # noqa: BLE001 - datatrove's own path has its workarounds
                return tok.word_tokenize(simplified)
        words: list[str] = []
        for piece in pieces:
            if piece:
                words.extend(known[piece])
        return words

    def _tokenize_pieces(self, pieces: list[str]) -> None:
        """Tokenize space-free pieces in one spaCy call and remember their tokens."""
        import bisect

        if len(self._pieces) + len(pieces) > self.max_cached_pieces:
            self._pieces.clear()
        nlp = self.word_tokenizer.tokenizer
        text = " ".join(pieces)
        starts = []
        pos = 0
        for piece in pieces:
            starts.append(pos)
            pos += len(piece) + 1
        found: list[list[str]] = [[] for _ in pieces]
        with nlp.memory_zone():  # spaCy's string store does not grow with every new word
            for token in nlp.tokenizer(text):
                word = token.text.strip()
                if word:
                    found[bisect.bisect_right(starts, token.idx) - 1].append(word)
        self._pieces.update(zip(pieces, map(tuple, found)))

    def shingles(self, text: str) -> np.ndarray:
        """Hashed word n-grams of the simplified text, shape (n, 1) uint64: datatrove's
        `MinhashDedupSignature.get_shingles`."""
        from datatrove.utils.text import ngrams

        words = self.words(self.simplify(text))
        return np.fromiter((self._hash(" ".join(g)) for g in ngrams(words, self.params.n_grams)),
                           dtype=np.uint64).reshape((-1, 1))

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """The `num_hashes` minimum hashes (datatrove's `get_signature`), flat."""
        return np.asarray(self.step.get_signature(shingles), dtype=self.params.hash_dtype).reshape(-1)

    def sign(self, text: str) -> np.ndarray | None:
        """The signature of a text, or None when it has fewer words than a shingle."""
        shingles = self.shingles(text)
        return self.signature(shingles) if shingles.size else None


_signers = threading.local()


def signer_for(params: MinhashParams) -> Signer:
    """One `Signer` per thread and parameters (building one loads spaCy: ~0.3 s)."""
    cache = getattr(_signers, "cache", None)
    if cache is None:
        cache = _signers.cache = {}
    if params not in cache:
        cache[params] = Signer(params)
    return cache[params]


def normalize_for_exact(text: str, how: ExactNormalization, norm: TextNormSettings) -> str:
    """The text whose hash identifies exact duplicates.

    `none`: as extracted. `whitespace`: Unicode NFC, runs of whitespace as one space, no
    leading or trailing space. `minhash`: the MinHash simplification (case, punctuation,
    numbers, diacritics, as `normalization` says).
    """
    if how == "none":
        return text
    if how == "whitespace":
        return " ".join(unicodedata.normalize("NFC", text).split())
    from datatrove.utils.text import simplify_text

    return simplify_text(text, norm.config())


def exact_hash(text: str) -> bytes:
    """128-bit xxh3 of the UTF-8 text."""
    import xxhash

    return xxhash.xxh3_128_digest(text.encode("utf-8", "surrogatepass"))


def sorted_bucket(signatures: np.ndarray, rows: np.ndarray, bucket: int, params: MinhashParams) -> np.ndarray:
    """One band of every signature as datatrove's records, sorted by (hashes, row)."""
    r = params.hashes_per_bucket
    band = signatures[:, bucket * r:(bucket + 1) * r]
    records = np.empty(len(rows), dtype=params.record_dtype())
    if len(rows):
        order = np.lexsort((rows, *(band[:, j] for j in reversed(range(r)))))
        records["hashes"] = band[order]
        records["row"] = rows[order]
    return records


# Odd 64-bit constants (from splitmix64 and xxhash) to fold a row of hashes into one key.
_MIX = np.array([0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xC2B2AE3D27D4EB4F,
                 0x165667B19E3779F9, 0x27D4EB2F165667C5, 0x85EBCA77C2B2AE63, 0xFF51AFD7ED558CCD], dtype=np.uint64)


def _fold(keys: np.ndarray) -> np.ndarray:
    """A 64-bit key per row of `keys` (n, k); equal rows fold to equal keys."""
    keys = keys.astype(np.uint64, copy=False)
    h = np.zeros(len(keys), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(keys.shape[1]):
            h ^= keys[:, j]
            h *= _MIX[j % len(_MIX)]
            h ^= h >> np.uint64(29)
    return h


def equal_row_pairs(keys: np.ndarray, nodes: np.ndarray, groups: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Edges between rows whose `keys` (n, k) are equal (and whose `groups` are equal):
    each row to the first row of its run, so a group of m rows gives m - 1 edges.

    Rows are sorted by a 64-bit fold of their keys and only neighbours with equal folds
    are compared on their full keys, so unequal rows are never linked, and memory is
    about 32 bytes a row besides `keys`. Equal rows are missed only if two different rows
    fold to the same 64 bits and sort between them (odds about 2^-64).
    """
    empty = np.empty(0, dtype=np.int64)
    if len(nodes) < 2:
        return empty, empty
    folded = _fold(keys)
    if groups is not None:
        with np.errstate(over="ignore"):
            folded ^= groups.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    order = np.argsort(folded, kind="stable")
    folded = folded[order]
    candidates = np.nonzero(folded[1:] == folded[:-1])[0]
    del folded
    if not len(candidates):
        return empty, empty
    left, right = order[candidates], order[candidates + 1]
    equal = (keys[left] == keys[right]).all(axis=1)
    if groups is not None:
        equal &= groups[left] == groups[right]
    same = np.zeros(len(order) - 1, dtype=bool)
    same[candidates[equal]] = True
    # Index (in sorted order) of the first row of each run of equal rows, for every row.
    starts = np.concatenate(([True], ~same))
    first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    members = np.nonzero(~starts)[0]
    return (np.asarray(nodes[order[first[members]]], dtype=np.int64),
            np.asarray(nodes[order[members]], dtype=np.int64))


class UnionFind:
    """Disjoint sets over documents 0..n-1, merged by batches of edges in numpy.

    A root is always the smallest document of its set, so the result does not depend on
    the order of the edges.
    """

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, nodes: np.ndarray) -> np.ndarray:
        roots = self.parent[nodes]
        for _ in range(16):
            up = self.parent[roots]
            if np.array_equal(up, roots):
                return roots
            roots = up
        # Long paths (hooking many roots in one batch can chain them): halve every path
        # at once until each document points at its root, log2(depth) passes.
        self.roots()
        return self.parent[nodes]

    def union(self, u: np.ndarray, v: np.ndarray) -> None:
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        while len(u):
            ru, rv = self.find(u), self.find(v)
            apart = ru != rv
            u, v, ru, rv = u[apart], v[apart], ru[apart], rv[apart]
            if not len(u):
                return
            # Hook each larger root under the smallest root it meets; repeat until joined.
            np.minimum.at(self.parent, np.maximum(ru, rv), np.minimum(ru, rv))
            touched = np.concatenate((u, v))
            self.parent[touched] = self.find(touched)

    def roots(self) -> np.ndarray:
        """The root of every document (and fully compressed paths)."""
        parent = self.parent
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                self.parent = parent
                return parent
            parent = up
