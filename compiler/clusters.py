"""Discovered domains: documents -> vectors that need no downloaded model -> k-means clusters.

An embedding is hashed n-gram counts (no vocabulary to store: any document maps without a
fit), re-weighted by TF-IDF and reduced by truncated SVD (latent semantic analysis), each
vector scaled to unit length so that k-means' Euclidean distance ranks documents by cosine.
The IDF weights, the SVD and the centroids are fitted on a sample of the source's documents;
every document is then assigned to its nearest centroid, batch by batch, so memory depends
on the sample and the batch, not on the source. CLIMB (Diao et al. 2025) clusters web data
into domains in the same way (embed, k-means); its embedding is a downloaded model, which a
job here may not fetch.

Embeddings (`benchmarks/clusters.py` measures each on six labelled domains):
  chars  character 3- and 4-grams inside word boundaries; the default: the higher adjusted
         Rand index there (0.18 against 0.13, seed 0), at 2.7x the seconds of `words`
  words  word unigrams and bigrams, lower-cased: faster, and blinder to code and markup

Same texts, k and seed: the same clusters, to the byte (BLAS and OpenMP held to one thread,
so no sum depends on the machine's core count). This module reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

EMBEDDINGS = ("chars", "words")
DEFAULT_EMBEDDING = "chars"
EMBED_CHARS = 2000  # of each document, its start: enough to say what it is, and a bounded cost
FEATURES = 1 << 18  # hash buckets
DIMENSIONS = 64  # after the SVD
BATCH = 2048  # documents embedded and assigned at a time


def _hasher(embedding: str):
    from sklearn.feature_extraction.text import HashingVectorizer

    grams = {"words": dict(analyzer="word", ngram_range=(1, 2)),
             "chars": dict(analyzer="char_wb", ngram_range=(3, 4))}[embedding]
    return HashingVectorizer(n_features=FEATURES, alternate_sign=False, norm=None, lowercase=True,
                             dtype=np.float32, **grams)


@dataclass(frozen=True)
class Clustering:
    """A fitted embedding and its k centroids; `assign` maps any documents to clusters."""

    embedding: str
    k: int
    idf: object  # sklearn TfidfTransformer
    svd: object  # sklearn TruncatedSVD
    centroids: np.ndarray  # (k, dims), in the embedding's space

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of `texts` (each cut to EMBED_CHARS), float64."""
        from sklearn.preprocessing import normalize

        counts = _hasher(self.embedding).transform([t[:EMBED_CHARS] for t in texts])
        return normalize(self.svd.transform(self.idf.transform(counts)).astype(np.float64))

    def distances(self, vectors: np.ndarray) -> np.ndarray:
        """Squared distance of each vector to each centroid: (n, k)."""
        return ((vectors[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)

    def distances_to(self, texts: Sequence[str]) -> np.ndarray:
        """Squared distance of each text to each centroid, (n, k): embedded batch by batch, on one thread."""
        with _one_thread():
            out = [self.distances(self.embed(texts[i:i + BATCH])) for i in range(0, len(texts), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, self.k))

    def assign(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's cluster (the nearest centroid; ties to the lower index), int64."""
        return self.distances_to(texts).argmin(axis=1)


def fit(texts: Sequence[str], k: int, seed: int, embedding: str = DEFAULT_EMBEDDING) -> Clustering:
    """Fit the embedding and k-means (k-means++ starts, 4 of them, the best kept) on `texts`.
    Raises ValueError when the texts hold fewer than k distinct documents."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    if embedding not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {embedding!r}: one of {', '.join(EMBEDDINGS)}")
    distinct = len(set(texts))
    if distinct < k:
        raise ValueError(f"{distinct} distinct documents, fewer than k = {k} clusters")
    with _one_thread():
        counts = _hasher(embedding).transform([t[:EMBED_CHARS] for t in texts])
        idf = TfidfTransformer(sublinear_tf=True).fit(counts)
        weighted = idf.transform(counts)
        dims = max(1, min(DIMENSIONS, weighted.shape[0] - 1, weighted.shape[1] - 1))
        svd = TruncatedSVD(dims, algorithm="randomized", n_iter=5, random_state=seed).fit(weighted)
        vectors = normalize(svd.transform(weighted).astype(np.float64))
        kmeans = KMeans(k, init="k-means++", n_init=4, random_state=seed).fit(vectors)
    return Clustering(embedding, k, idf, svd, kmeans.cluster_centers_.astype(np.float64))


def _one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)
