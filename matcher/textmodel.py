"""The TF-IDF model of profile texts, kept in a file between starts.

Fitting the model reads every organisation's text (about six seconds for 100,000 profiles
on one core), so a server keeps the fitted model in a file keyed by a hash of the texts and
the model's parameters, and reads it back when it starts on the same texts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import sklearn
from scipy import sparse

from matcher.features import TextModel, fit_text_model, text_vectorizer
from matcher.filecache import read_arrays, write_arrays

FORMAT = 1
#: The cache file's name in the service's home folder.
TEXT_MODEL_FILE = "text-model.npz"


def texts_key(texts: Sequence[str]) -> str:
    """A hash of the texts (in order), the vectorizer's parameters and the library version."""
    params = sorted(text_vectorizer().get_params().items())
    digest = hashlib.sha256(f"{FORMAT}|{sklearn.__version__}|{params}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


class TextModelCache:
    """The fitted text model of the last texts asked for, kept in one file.

    The term counts of those texts are kept in memory too, so that after a write a refit
    tokenises only the texts that are new (the model itself, its vocabulary and document
    frequencies, is refitted whole: every text's weights depend on every other text).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._counted: dict[str, Counter] = {}

    def get(self, texts: Sequence[str]) -> TextModel:
        """The model fitted on ``texts`` and their TF-IDF rows: read from the file when it holds
        these texts, otherwise fitted and saved."""
        key = texts_key(texts)
        cached = self._read(key)
        if cached is not None:
            return cached
        counted = self._counted
        vectorizer, matrix = fit_text_model(texts, counted)
        self._counted = {text: counted[text] for text in texts}
        vocabulary = getattr(vectorizer, "vocabulary_", None)
        if vocabulary is not None:
            terms = [""] * len(vocabulary)
            for term, i in vocabulary.items():
                terms[i] = term
            write_arrays(self.path, key, {
                "terms": np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8), "idf": vectorizer.idf_,
                "data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr, "shape": np.array(matrix.shape)})
        return vectorizer, matrix

    def _read(self, key: str) -> TextModel | None:
        data = read_arrays(self.path, key)
        if data is None:
            return None
        terms = bytes(data["terms"]).decode("utf-8").split("\n") if len(data["terms"]) else []
        idf = data["idf"]
        shape = tuple(int(n) for n in data["shape"])
        if len(terms) != len(idf) or shape[1] != len(idf):
            return None
        vectorizer = text_vectorizer()
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        vectorizer.idf_ = idf
        return vectorizer, sparse.csr_matrix((data["data"], data["indices"], data["indptr"]), shape=shape)
