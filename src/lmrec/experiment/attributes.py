"""The `attributes:` section of an experiment file made into `SideAttributes` for a split's vocabularies:
the tables are read once per run (`AttributeTables`), then encoded for each fold's users and items."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmrec.data.attributes import Attributes, SideAttributes, encode_attributes
from lmrec.data.catalog import ItemCatalog
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError
from lmrec.experiment.config import AttributeTableSpec, Experiment


@dataclass(frozen=True, eq=False)
class AttributeTable:
    """One side's raw table indexed by raw id, its spec, how errors name it, and (for a delimited file)
    the 1-based file line of each row."""

    frame: pd.DataFrame
    spec: AttributeTableSpec
    where: str
    lines: np.ndarray | None = None

    def encode(self, vocab: Vocabulary) -> Attributes:
        return encode_attributes(self.frame, vocab, self.spec.columns, where=self.where, lines=self.lines)


@dataclass(frozen=True)
class AttributeTables:
    """The raw user and item tables of an experiment's `attributes` section."""

    user: AttributeTable | None = None
    item: AttributeTable | None = None

    def encode(self, user_vocab: Vocabulary, item_vocab: Vocabulary) -> SideAttributes:
        """Attribute rows for every id of the two vocabularies (ids a table lacks get empty rows)."""
        return SideAttributes(
            user=None if self.user is None else self.user.encode(user_vocab),
            item=None if self.item is None else self.item.encode(item_vocab),
        )


def _read_table(path: Path, spec: AttributeTableSpec) -> AttributeTable:
    """A CSV / TSV (separator from the name) or Parquet table, the id column and `spec.columns` as text.

    Delimited files go through lmrec's `read_delimited`, so each row keeps its file line for errors, and a
    line with the wrong number of fields is an error naming it (nothing is dropped silently)."""
    from lmrec.data.loaders._delimited import read_delimited
    from lmrec.data.loaders._source import DataSource
    from lmrec.data.loaders.tabular import SEPARATORS

    assert spec.id_column is not None  # the schema asks for it
    if not path.exists():
        raise DataError(f"attribute table {path} does not exist")
    suffixes = [s.lower() for s in path.suffixes]
    wanted = list(dict.fromkeys([spec.id_column, *spec.columns]))
    if ".parquet" in suffixes or ".pq" in suffixes:
        try:
            frame = pd.read_parquet(path)
        except (ValueError, OSError) as exc:
            raise DataError(f"attribute table {path}: {exc}") from exc
        absent = [c for c in wanted if c not in frame.columns]
        if absent:
            raise DataError(f"attribute table {path}: no column(s) {absent}; columns: {list(frame.columns)}")
        return AttributeTable(frame[wanted].set_index(spec.id_column), spec, str(path), None)
    sep = next((SEPARATORS[s] for s in suffixes if s in SEPARATORS), None)
    if sep is None:
        raise DataError(
            f"attribute table {path}: cannot tell the format from the name; use .csv, .tsv, .tab or .parquet"
        )
    source = DataSource(path)
    read = read_delimited(source, path.name, sep=sep, header=True, usecols=wanted, text_columns=wanted)
    if read.problems:
        shown = "; ".join(f"line {p.line}: {p.value!r}" for p in read.problems[:3])
        raise DataError(
            f"attribute table {path}: {len(read.problems)} line(s) do not have the header's "
            f"{len(read.header or [])} fields ({shown})"
        )
    return AttributeTable(read.frame.set_index(spec.id_column), spec, str(path), read.lines)


def _dataset_location(exp: Experiment, data_path: str | None) -> Path:
    """The dataset folder or zip the experiment reads (for movielens_users)."""
    if data_path is not None:
        return Path(data_path)
    if exp.dataset.path:
        resolved = exp.resolve(exp.dataset.path)
        assert resolved is not None
        return resolved
    from lmrec.data.download import resolve_dataset

    return resolve_dataset(str(exp.dataset.name))


def load_attribute_tables(
    exp: Experiment, *, catalog: ItemCatalog | None, data_path: str | None = None
) -> AttributeTables:
    """Read the tables the experiment's `attributes` section names (empty when it has none).

    `catalog`: the dataset's item catalog, for `source: catalog`; `data_path` overrides the dataset
    location as `lmrec run --data` does.
    """
    spec = exp.attributes
    if spec is None:
        return AttributeTables()
    user = item = None
    if spec.user is not None:
        if spec.user.source == "movielens_users":
            from lmrec.data.loaders.movielens_users import load_movielens_users

            location = _dataset_location(exp, data_path)
            frame = load_movielens_users(location).set_index("user")
            user = AttributeTable(frame, spec.user, f"{location} users")
        else:
            path = exp.resolve(spec.user.source)
            assert path is not None
            user = _read_table(path, spec.user)
    if spec.item is not None:
        if spec.item.source == "catalog":
            if catalog is None:
                raise ConfigError(
                    "attributes.item: source catalog, but this dataset was loaded without an item catalog"
                )
            item = AttributeTable(catalog.frame, spec.item, "item catalog")
        else:
            path = exp.resolve(spec.item.source)
            assert path is not None
            item = _read_table(path, spec.item)
    return AttributeTables(user=user, item=item)
