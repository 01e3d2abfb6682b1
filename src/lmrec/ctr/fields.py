"""Categorical fields for click-through models: values to rows of one shared embedding table.

A CTR example is a set of fields (user, item, gender, occupation, genres, ...). Each single-valued field
becomes one index; a multi-valued field (genres) becomes a padded list of indices (-1 = none) that the
networks average; an optional dense vector per example (the item's pretrained text embedding) becomes one
more field through a learned linear projection (`FieldData.with_dense`). The vocabularies are learned on
the training rows only; a value first seen later maps to its field's "unknown" row, so nothing about
validation or test leaks into the encoding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

UNKNOWN = "<unknown>"


@dataclass(frozen=True)
class FieldData:
    """Encoded examples: `single` (n x fields) indices, `multi` (n x width) indices padded with -1."""

    single: np.ndarray
    multi: np.ndarray | None
    n_features: int
    """Rows of the shared embedding table (all fields, unknowns included)."""
    fields: tuple[str, ...]
    """Names of the single-valued fields, in column order."""
    dense: np.ndarray | None = None
    """(n x k) float32 dense features of every example (e.g. the item's text embedding), or None."""

    def __len__(self) -> int:
        return int(self.single.shape[0])

    @property
    def dense_dim(self) -> int:
        return 0 if self.dense is None else int(self.dense.shape[1])

    def take(self, rows: np.ndarray) -> FieldData:
        multi = self.multi[rows] if self.multi is not None else None
        dense = self.dense[rows] if self.dense is not None else None
        return FieldData(self.single[rows], multi, self.n_features, self.fields, dense)

    def with_dense(self, dense: np.ndarray) -> FieldData:
        """The same examples with a dense feature vector each (one row per example, finite values)."""
        d = np.asarray(dense, dtype=np.float32)
        if d.ndim != 2 or d.shape[0] != len(self):
            raise ValueError(f"dense features must be (n_examples={len(self)}, k); got shape {d.shape}")
        if not np.isfinite(d).all():
            bad = int(np.flatnonzero(~np.isfinite(d).all(axis=1))[0])
            raise ValueError(f"dense features contain NaN or infinity (first at example {bad})")
        return dataclasses.replace(self, dense=np.ascontiguousarray(d))


class FieldEncoder:
    """Learns one vocabulary per field from training rows; `transform` encodes any rows with them."""

    def fit(self, single: Mapping[str, Any], multi: Sequence[Sequence[str]] | None = None) -> FieldEncoder:
        self.fields_ = tuple(single)
        self.vocab_: dict[str, dict[str, int]] = {}
        offset = 0
        for name in self.fields_:
            values = pd.unique(pd.Series(single[name]).astype(str))
            mapping = {v: offset + 1 + i for i, v in enumerate(sorted(values))}
            mapping[UNKNOWN] = offset
            self.vocab_[name] = mapping
            offset += len(mapping)
        self.multi_vocab_: dict[str, int] | None = None
        if multi is not None:
            values = sorted({v for row in multi for v in row})
            self.multi_vocab_ = {UNKNOWN: offset, **{v: offset + 1 + i for i, v in enumerate(values)}}
            offset += len(self.multi_vocab_)
        self.n_features_ = offset
        return self

    def transform(self, single: Mapping[str, Any], multi: Sequence[Sequence[str]] | None = None) -> FieldData:
        missing = [f for f in self.fields_ if f not in single]
        if missing:
            raise ValueError(f"fields {missing} are missing (the encoder was fitted on {list(self.fields_)})")
        columns = []
        for name in self.fields_:
            vocab = self.vocab_[name]
            values = pd.Series(single[name]).astype(str)
            columns.append(values.map(vocab).fillna(vocab[UNKNOWN]).to_numpy(np.int64))
        encoded_multi = None
        if self.multi_vocab_ is not None:
            if multi is None:
                raise ValueError("the encoder was fitted with a multi-valued field; pass multi=")
            width = max((len(r) for r in multi), default=1) or 1
            encoded_multi = np.full((len(multi), width), -1, dtype=np.int64)
            for i, row in enumerate(multi):
                for j, v in enumerate(row):
                    encoded_multi[i, j] = self.multi_vocab_.get(v, self.multi_vocab_[UNKNOWN])
        single_arr = np.column_stack(columns) if columns else np.empty((0, 0), dtype=np.int64)
        return FieldData(single_arr, encoded_multi, self.n_features_, self.fields_)
