"""MovieLens user demographics: `u.user` (100K: id|age|gender|occupation|zip) and `users.dat`
(1M: UserID::Gender::Age::Occupation::Zip-code, age and occupation as the README's codes).

One row per user with columns user, age, gender, occupation, zip; a malformed row is an error that names
the file, line and column (demographics feed models directly, so nothing is dropped silently).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmrec.data.loaders._delimited import read_delimited
from lmrec.data.loaders._source import DataSource, PathLike
from lmrec.data.loaders._text import check_encoding_name
from lmrec.errors import DataError

COLUMNS = ("user", "age", "gender", "occupation", "zip")


def load_movielens_users(path: PathLike, *, encoding: str = "latin-1") -> pd.DataFrame:
    """User demographics of a MovieLens 100K or 1M copy (folder or zip).

    `encoding` defaults to latin-1, the encoding of the GroupLens releases (their user files are ASCII, so
    UTF-8 reads them the same); a byte invalid in a declared encoding is an error naming line and column.
    """
    encoding = check_encoding_name(encoding)
    source = DataSource(path)
    if source.has("u.user"):
        name, sep, names = "u.user", "|", ["user", "age", "gender", "occupation", "zip"]
    elif source.has("users.dat"):
        name, sep, names = "users.dat", "::", ["user", "gender", "age", "occupation", "zip"]
    else:
        raise DataError(
            f"{source.path}: no user demographics (u.user for MovieLens-100K, users.dat for 1M); "
            f"files present: {source.names()}"
        )
    d = read_delimited(
        source, name, sep=sep, header=False, names=names, quoting=False, encoding=encoding,
        text_columns=["zip", "occupation", "gender"],
    )  # fmt: skip
    label = source.label(name)
    if d.problems:
        raise DataError(f"{d.problems[0]} ({len(d.problems)} malformed lines)")
    frame = d.frame
    for column in ("user", "age"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | (values.to_numpy() < 0))
        if bad.size:
            raise DataError(
                f"{label}: line {int(d.lines[bad[0]])}, column {column}: {frame[column].iloc[bad[0]]!r} is "
                f"not a non-negative integer ({bad.size} such rows)"
            )
        frame[column] = values.astype(np.int64)
    duplicated = np.flatnonzero(frame["user"].duplicated().to_numpy())
    if duplicated.size:
        raise DataError(
            f"{label}: line {int(d.lines[duplicated[0]])}: user {frame['user'].iloc[duplicated[0]]} "
            "is listed twice"
        )
    out = frame[list(COLUMNS)].copy()
    for column in ("gender", "occupation", "zip"):
        out[column] = out[column].astype(str).str.strip()
    return out.reset_index(drop=True)
