"""N-gram counts shared by every head that reads the same texts.

Each head has its own TF-IDF vocabularies, and scikit-learn cuts a text into n-grams and looks
each one up in pure Python, once per vectorizer: with three heads on email-length texts that was
the largest piece of the worker's own work (bench/README.md, pipeline). Here a text is cut and
looked up once, in the union of the heads' vocabularies; each head then takes its columns of
the counts (a sparse index, in C) and applies its own IDF weights and normalisation, which gives
what its vectorizer's `transform` gives (the columns come in another order, so a norm can differ
in its last bit). Character n-grams are cut once per distinct word, not per text (`_Group.count`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

# The parameters that decide which n-grams a text yields; vectorizers equal on all of them can
# share one cut. A vectorizer with a callable among them is never shared.
_ANALYSIS = (
    "input",
    "encoding",
    "decode_error",
    "strip_accents",
    "lowercase",
    "preprocessor",
    "tokenizer",
    "analyzer",
    "stop_words",
    "token_pattern",
    "ngram_range",
)


def _analysis_key(vectorizer: TfidfVectorizer) -> tuple | None:
    params = vectorizer.get_params()
    values = tuple(params[name] for name in _ANALYSIS)
    if any(callable(v) for v in values) or vectorizer.binary:
        return None
    return tuple(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in zip(_ANALYSIS, values, strict=True)
    )


# Distinct words whose char_wb columns a group keeps (about 250 bytes each, so some 12 MB at
# most); past it the memo starts again.
_WORDS_KEPT = 50_000


class _Group:
    """Vectorizers with the same analysis: one union vocabulary and a column map for each."""

    def __init__(self, members: Sequence[TfidfVectorizer]) -> None:
        union: dict[str, int] = {}
        for vectorizer in members:
            for term in vectorizer.vocabulary_:
                union.setdefault(term, len(union))
        first = members[0]
        self.members = list(members)  # kept alive: the column maps are keyed by their ids
        self.counter = CountVectorizer(
            **{name: first.get_params()[name] for name in _ANALYSIS},
            vocabulary=union,
            dtype=first.dtype,
        )
        self.columns: dict[int, np.ndarray] = {}
        for vectorizer in members:
            columns = np.empty(len(vectorizer.vocabulary_), dtype=np.int64)
            for term, index in vectorizer.vocabulary_.items():
                columns[index] = union[term]
            self.columns[id(vectorizer)] = columns
        self._vocabulary = union
        self._by_word = first.analyzer == "char_wb"
        self._preprocess = self.counter.build_preprocessor()
        self._analyse = self.counter.build_analyzer()
        self._word_columns: dict[str, np.ndarray] = {}

    def count(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """What `self.counter.transform(texts)` gives.

        char_wb n-grams never cross a word (scikit-learn cuts each whitespace-separated word
        alone, padded with a space), so a text's counts are the sum of its words' counts; words
        repeat, so each is cut and looked up once and its columns kept: three to four times
        faster than the transform on emails, the same counts (tests/test_classify.py)."""
        if not self._by_word:
            return sparse.csr_matrix(self.counter.transform(texts))
        if len(self._word_columns) > _WORDS_KEPT:
            self._word_columns.clear()
        columns: list[np.ndarray] = []
        per_text = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            for word in self._preprocess(text).split():
                found = self._word_columns.get(word)
                if found is None:
                    found = self._columns_of(word)
                columns.append(found)
                per_text[row] += len(found)
        if not columns:
            return sparse.csr_matrix((len(texts), len(self._vocabulary)), dtype=self.counter.dtype)
        cols = np.concatenate(columns)
        rows = np.repeat(np.arange(len(texts)), per_text)
        counts = sparse.csr_matrix(
            (np.ones(len(cols), dtype=self.counter.dtype), (rows, cols)),
            shape=(len(texts), len(self._vocabulary)),
        )
        counts.sum_duplicates()
        return counts

    def _columns_of(self, word: str) -> np.ndarray:
        vocabulary = self._vocabulary
        found = [vocabulary[g] for g in self._analyse(word) if g in vocabulary]
        columns = np.asarray(found, dtype=np.int64)
        self._word_columns[word] = columns
        return columns


class SharedNgrams:
    """Built once for a set of loaded heads' vectorizers; `counts` one batch at a time."""

    def __init__(self, vectorizers: Sequence[TfidfVectorizer]) -> None:
        groups: dict[tuple, list[TfidfVectorizer]] = {}
        for vectorizer in vectorizers:
            key = _analysis_key(vectorizer)
            if key is not None:
                groups.setdefault(key, []).append(vectorizer)
        self._groups = [_Group(members) for members in groups.values()]

    def counts(self, texts: Sequence[str]) -> NgramCounts:
        """Cut and look up `texts` once for every vectorizer that shares, lowered as a head
        lowers them before its vectorizers see them."""
        lowered = [t.lower() for t in texts]
        found: dict[int, sparse.csr_matrix] = {}
        for group in self._groups:
            counts = group.count(lowered)
            for vid, columns in group.columns.items():
                found[vid] = counts[:, columns]
        return NgramCounts(found)


class NgramCounts:
    """One batch's counts, each in its vectorizer's column order."""

    def __init__(self, by_vectorizer: dict[int, sparse.csr_matrix]) -> None:
        self._by_vectorizer = by_vectorizer

    def tfidf(self, vectorizer: TfidfVectorizer, texts: Sequence[str]) -> sparse.csr_matrix:
        """What `vectorizer.transform(texts)` gives, from the shared counts where it has them."""
        counts = self._by_vectorizer.get(id(vectorizer))
        if counts is None:
            return vectorizer.transform(texts)
        return sparse.csr_matrix(vectorizer._tfidf.transform(counts, copy=False))
