"""The `attributes:` section of an experiment file made into `SideAttributes` for a split's vocabularies:
the tables are read once per run (`AttributeTables`), then encoded for each fold's users and items."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lmrec.data.attributes import SideAttributes, encode_attributes
from lmrec.data.catalog import ItemCatalog
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError, DataError
from lmrec.experiment.config import AttributeTableSpec, Experiment


@dataclass(frozen=True)
class AttributeTables:
    """The raw user and item tables of an experiment's `attributes` section, indexed by raw id."""

    user: tuple[pd.DataFrame, AttributeTableSpec, str] | None = None
    item: tuple[pd.DataFrame, AttributeTableSpec, str] | None = None

    def encode(self, user_vocab: Vocabulary, item_vocab: Vocabulary) -> SideAttributes:
        """Attribute rows for every id of the two vocabularies (ids a table lacks get empty rows)."""
        user = item = None
        if self.user is not None:
            table, spec, where = self.user
            user = encode_attributes(table, user_vocab, spec.columns, where=where)
        if self.item is not None:
            table, spec, where = self.item
            item = encode_attributes(table, item_vocab, spec.columns, where=where)
        return SideAttributes(user=user, item=item)


def _read_table(path: Path, id_column: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"attribute table {path} does not exist")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=True)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"attribute table {path}: {exc}") from exc
    if id_column not in frame.columns:
        raise DataError(f"attribute table {path}: no id column {id_column!r}; columns: {list(frame.columns)}")
    return frame.set_index(id_column)


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
            user = (load_movielens_users(location).set_index("user"), spec.user, f"{location} users")
        else:
            path = exp.resolve(spec.user.source)
            assert path is not None and spec.user.id_column is not None
            user = (_read_table(path, spec.user.id_column), spec.user, str(path))
    if spec.item is not None:
        if spec.item.source == "catalog":
            if catalog is None:
                raise ConfigError(
                    "attributes.item: source catalog, but this dataset was loaded without an item catalog"
                )
            item = (catalog.frame, spec.item, "item catalog")
        else:
            path = exp.resolve(spec.item.source)
            assert path is not None and spec.item.id_column is not None
            item = (_read_table(path, spec.item.id_column), spec.item, str(path))
    return AttributeTables(user=user, item=item)
