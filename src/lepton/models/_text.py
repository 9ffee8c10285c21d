"""Text inputs: pulling texts out of any prediction input, and a small tokenizer/vocabulary."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from lepton.errors import InvalidParameterError

_TOKEN = re.compile(r"[a-z0-9']+")


def texts_of(x: Any, column: str) -> list[str]:
    """Texts from a Dataset, a DataFrame (``column``), a list of strings or of records."""
    import pandas as pd

    from lepton.data import Dataset

    if isinstance(x, Dataset):
        return list(x.texts)
    if isinstance(x, str):
        return [x]
    if isinstance(x, pd.DataFrame):
        if column not in x.columns:
            raise InvalidParameterError(
                f"Expected a text column {column!r}; got columns {list(x.columns)}."
            )
        return x[column].fillna("").astype(str).tolist()
    if isinstance(x, list | tuple):
        return [str(item[column]) if isinstance(item, dict) else str(item) for item in x]
    raise InvalidParameterError(
        f"Cannot read texts from {type(x).__name__}: pass a list of strings, records with a "
        f"{column!r} field, a DataFrame or a Dataset."
    )


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def build_vocab(texts: Iterable[str], max_size: int) -> list[str]:
    """The ``max_size`` most frequent tokens; index 0 is reserved for unknown tokens."""
    counts = Counter(token for text in texts for token in tokenize(text))
    return [
        "<unk>",
        *[tok for tok, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max_size - 1]],
    ]
