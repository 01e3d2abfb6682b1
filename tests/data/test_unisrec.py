"""UniSRec / RecBole atomic files: hand-made copies in tmp_path (layout, provenance, every error path) and the
staged amazon2018-scientific-unisrec set (counts, the given split equal to the files, leave-one-out)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from lmrec.data import splits
from lmrec.data.cleaning import CleaningConfig, clean
from lmrec.data.loaders import detect_format, load_dataset, load_unisrec
from lmrec.data.raw import RAW_COLUMNS
from lmrec.errors import ConfigError, DataError, DatasetNotFoundError
from lmrec.experiment.config import parse_experiment
from lmrec.experiment.prepare import prepare

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"

# Raw sequences: u1 repeats item A (a repeated pair), u3 is longer than max_history + 2, u2 is as short as a
# published user can be without training rows (history of its validation row = its first item).
SEQS = {
    "u1": ["A", "B", "A", "C", "D"],
    "u2": ["C", "E", "B"],
    "u3": ["E", "D", "C", "B", "A", "F", "E"],
}
TEXTS = {
    "A": "Alpha glue. Tapes. Gorilla. ",
    "B": "Beta saw",
    "C": "Gamma",
    "D": "Delta",
    "E": "Eps",
    "F": "Phi",
}


def write_unisrec(
    folder: Path, seqs: dict[str, list[str]] = SEQS, *, max_history: int = 3, prefix: str = "Sci"
) -> Path:
    """Files laid out as UniSRec publishes them: train rows per user from the longest history down."""
    folder.mkdir(parents=True, exist_ok=True)
    users = {u: i for i, u in enumerate(seqs)}
    items = {a: i for i, a in enumerate(sorted({a for s in seqs.values() for a in s}))}
    (folder / f"{prefix}.user2index").write_text("".join(f"{u}\t{i}\n" for u, i in users.items()))
    (folder / f"{prefix}.item2index").write_text("".join(f"{a}\t{i}\n" for a, i in items.items()))
    (folder / f"{prefix}.text").write_text(
        "item_id:token\ttext:token_seq\n" + "".join(f"{a}\t{TEXTS[a]}\n" for a in items)
    )

    def row(u: str, seq: list[str], p: int) -> str:
        hist = " ".join(str(items[a]) for a in seq[max(0, p - max_history) : p])
        return f"{users[u]}\t{hist}\t{items[seq[p]]}\n"

    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for u, seq in seqs.items():
        n = len(seq)
        parts["train"] += [row(u, seq, p) for p in range(n - 3, 0, -1)]
        parts["valid"].append(row(u, seq, n - 2))
        parts["test"].append(row(u, seq, n - 1))
    for part, rows in parts.items():
        (folder / f"{prefix}.{part}.inter").write_text(HEADER + "".join(rows))
    return folder


def sequences(frame: object) -> dict[str, list[str]]:
    return {u: g["item"].tolist() for u, g in frame.groupby("user", sort=False)}  # type: ignore[attr-defined]


def test_rebuilds_the_sequences_with_repeats_positions_and_provenance(tmp_path: Path) -> None:
    log = load_unisrec(write_unisrec(tmp_path / "d"), max_history=3)
    assert list(log.frame.columns) == list(RAW_COLUMNS) and log.name == "Sci"
    assert sequences(log.frame) == SEQS  # repeats kept, order kept, raw ids from the index files
    assert log.frame["timestamp"].tolist() == [*range(5), *range(3), *range(7)]
    assert log.frame["rating"].isna().all()
    assert log.meta["timestamp_kind"] == "position" and log.meta["repeated_pairs"] == 2  # u1: A, u3: E
    assert log.meta["rows"] == {"train": 2 + 0 + 4, "valid": 3, "test": 3}
    # parts: all but the last two events train, then valid, then test
    assert log.given_parts is not None
    assert log.given_parts.tolist() == [0, 0, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 1, 2]
    # provenance: u1's first item comes from its shortest training row (the last train line of u1, line 3),
    # u2 has no training rows so its first item comes from its valid row; targets from their own rows
    src = [Path(s).name for s in log.frame["source"].astype(str)]
    assert list(zip(src[:5], log.frame["line"][:5], strict=True)) == [
        ("Sci.train.inter", 3),
        ("Sci.train.inter", 3),
        ("Sci.train.inter", 2),
        ("Sci.valid.inter", 2),
        ("Sci.test.inter", 2),
    ]
    assert (src[5], int(log.frame["line"][5])) == ("Sci.valid.inter", 3)


def test_item_text_goes_to_the_catalog_for_templates(tmp_path: Path) -> None:
    from lmrec.data.vocabulary import Vocabulary
    from lmrec.text import item_texts

    log = load_unisrec(write_unisrec(tmp_path / "d"), max_history=3)
    assert log.catalog is not None and log.catalog.text_fields == ("text",)
    assert log.catalog.text("A", "{text}") == "Alpha glue. Tapes. Gorilla."  # outer white space stripped
    texts = item_texts(log.catalog, Vocabulary.from_ids(["A", "F"]), "Item: {text}")
    assert list(texts.texts) == ["Item: Alpha glue. Tapes. Gorilla.", "Item: Phi"]


def test_path_zip_and_format_detection(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d")
    assert detect_format(folder) == "unisrec"
    via_path = load_dataset(folder, max_history=3)
    archive = tmp_path / "d.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"top/{f.name}")
    via_zip = load_dataset(archive, format="unisrec", max_history=3)
    assert sequences(via_zip.frame) == sequences(via_path.frame) == SEQS


def test_the_truncation_length_is_checked(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d", max_history=3)
    # read with a longer max_history, u1's truncated test history is not the whole prefix
    with pytest.raises(
        DataError,
        match=r"Sci\.test\.inter:2: column 2 \(item_id_list:token_seq\) of user 'u1' does not match .* "
        r"the last <= 5 of the 4 items before this target \(\[0 1 0 2\]\), found \[1 0 2\]",
    ):
        load_unisrec(folder, max_history=5)
    with pytest.raises(
        DataError, match=r"Sci\.train\.inter:3: the shortest history of user 'u1' has 1 items"
    ):
        load_unisrec(folder, max_history=1)


def _edit(path: Path, line: int, new: str | None) -> None:
    """Replace (or with None delete) 1-based `line` of a file."""
    lines = path.read_text().splitlines(keepends=True)
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    path.write_text("".join(lines))


@pytest.mark.parametrize(
    ("file", "line", "new", "message"),
    [
        ("Sci.train.inter", 2, "0\t0 1\n", r"Sci\.train\.inter:2: expected 3 TAB-separated fields"),
        (
            "Sci.train.inter",
            3,
            "0\t0 x\t1\n",
            r"Sci\.train\.inter:3: column 2 \(item_id_list:token_seq\): 'x' in '0 x' is not a non-negative",
        ),
        (
            "Sci.valid.inter",
            2,
            "0\t0 1 9\t3\n",
            r"Sci\.valid\.inter:2: column 2 .*index 9 is not in .*Sci\.item2index",
        ),
        (
            "Sci.test.inter",
            4,
            "7\t4 5\t2\n",
            r"Sci\.test\.inter:4: column 1 \(user_id:token\): index 7 is not in",
        ),
        (
            "Sci.test.inter",
            2,
            "0\t2 3 4\t1\n",
            r"Sci\.test\.inter:2: column 2 .* of user 'u1' does not match",
        ),
        (
            "Sci.train.inter",
            2,
            "0\t1 0\t2\n",
            r"Sci\.train\.inter:\d: column 2 .* of user 'u1' does not match",
        ),
        ("Sci.valid.inter", 3, None, r"Sci\.test\.inter:3: user 'u2' has no row in .*Sci\.valid\.inter"),
        (
            "Sci.test.inter",
            4,
            "0\t0 1 0\t3\n",
            r"Sci\.test\.inter:4: second row of user 'u1' .*first at line 2",
        ),
        ("Sci.item2index", 3, "A\t2\n", r"Sci\.item2index:3: column 1 \(raw id\) 'A' was given at line 1"),
        ("Sci.user2index", 2, "u2\t0\n", r"Sci\.user2index:2: column 2 \(index\) 0 was given to 'u1'"),
        ("Sci.user2index", 2, "u2\tone\n", r"Sci\.user2index:2: column 2 \(index\) = 'one' is not"),
        ("Sci.text", 3, "A\tagain\n", r"Sci\.text:3: column 1 \(item_id:token\) 'A' has text at line 2"),
        ("Sci.text", 1, "id\ttext\n", r"Sci\.text:1: the header \['id', 'text'\] lacks"),
        ("Sci.valid.inter", 1, "user\titems\titem\n", r"Sci\.valid\.inter:1: the header .* lacks"),
    ],
)
def test_malformed_or_inconsistent_files_name_file_line_and_column(
    tmp_path: Path, file: str, line: int, new: str | None, message: str
) -> None:
    folder = write_unisrec(tmp_path / "d")
    _edit(folder / file, line, new)
    with pytest.raises(DataError, match=message):
        load_unisrec(folder, max_history=3)


def test_missing_files_and_bad_utf8(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d")
    (folder / "Sci.text").write_bytes(b"item_id:token\ttext:token_seq\nA\tok\nB\t\xff\n")
    with pytest.raises(DataError, match=r"Sci\.text: line 3, column 3: byte 0xff is not valid utf-8"):
        load_unisrec(folder, max_history=3)
    (folder / "Sci.text").unlink()
    with pytest.raises(DataError, match=r"lacks \['Sci\.text'\]"):
        load_unisrec(folder)
    write_unisrec(folder, prefix="Other")
    with pytest.raises(DataError, match=r"expected one <dataset>\.train\.inter file"):
        load_unisrec(folder)


# --- the given split ---------------------------------------------------------------------------------------


def _experiment(folder: Path, **extra: object) -> dict[str, object]:
    return {
        "name": "unisrec_given",
        "dataset": {"path": str(folder), "options": {"max_history": 3}},
        "cleaning": {"duplicates": "keep_all"},
        "split": {"method": "given"},
        "models": [{"name": "pop"}],
        **extra,
    }


def test_experiment_split_given_keeps_the_files(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d")
    prep = prepare(parse_experiment(_experiment(folder)))
    split = prep.split
    assert split.name == "given" and prep.leakage["temporal"] == "per_user"

    def parts(part: str) -> dict[str, list[str]]:
        frame = getattr(split, part).to_frame()
        return sequences(frame)

    assert parts("train") == {u: s[:-2] for u, s in SEQS.items()}
    assert parts("valid") == {u: [s[-2]] for u, s in SEQS.items()}
    assert parts("test") == {u: [s[-1]] for u, s in SEQS.items()}
    loo = splits.leave_one_out(prep.data)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(loo, part).items, getattr(split, part).items)


def test_given_split_refuses_changed_data(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d")
    with pytest.raises(DataError, match=r"cleaning kept 13 of 15 rows.*duplicates: keep_all"):
        prepare(parse_experiment(_experiment(folder, cleaning={"duplicates": "keep_last"})))
    with pytest.raises(ConfigError, match=r"split\.method=given takes no params"):
        parse_experiment(_experiment(folder, split={"method": "given", "params": {"min_len": 3}}))
    (tmp_path / "events.csv").write_text("user,item,timestamp\na,b,1\na,c,2\na,d,3\n")
    raw = load_dataset(tmp_path / "events.csv")
    with pytest.raises(DataError, match="comes without a given split"):
        splits.given_split(clean(raw)[0], raw)


def test_given_as_base_of_a_rare_item_slice(tmp_path: Path) -> None:
    folder = write_unisrec(tmp_path / "d")
    exp = _experiment(
        folder, split={"method": "rare_items", "params": {"base": "given", "max_train_count": 1}}
    )
    split = prepare(parse_experiment(exp)).split
    assert split.name == "given+rare_items" and split.params["base"] == "given"
    # test targets D (u1), B (u2), E (u3); train parts ABA, C, EDCBA count A3 B2 C2 D1 E1
    assert split.test.item_vocab.id(split.test.items).tolist() == ["D", "E"]


# --- the staged dataset ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scientific(shared_data: Path) -> Path:
    path = shared_data / "amazon2018-scientific-unisrec"
    if not (path / "Scientific.train.inter").is_file():
        pytest.skip(f"amazon2018-scientific-unisrec not staged at {path}")
    return path


def _inter(path: Path) -> list[tuple[str, list[str], str]]:
    """Rows of an .inter file read independently of the loader: (user, history, target) as index tokens."""
    lines = path.read_text().splitlines()[1:]
    return [(u, h.split(), t) for u, h, t in (ln.split("\t") for ln in lines)]


def test_scientific_by_name_counts_and_given_split_equal_to_the_files(
    scientific: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LMREC_DATA_HOME", str(scientific.parent))
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    raw = load_dataset("amazon2018-scientific-unisrec")
    assert raw.meta["dataset"] == "amazon2018-scientific-unisrec" and "Hou et al" in raw.meta["license"]
    assert (len(raw.frame), raw.frame["user"].nunique(), raw.frame["item"].nunique()) == (
        59_427,
        8_442,
        4_385,
    )
    assert raw.meta["repeated_pairs"] == 291  # occurrences of a (user, item) pair after its first
    assert raw.catalog is not None and raw.catalog.frame["text"].notna().sum() == 4_385
    data, report = clean(raw, CleaningConfig(duplicates="keep_all"))
    assert report.rows_out == 59_427
    split = splits.given_split(data, raw)

    users = dict(ln.split("\t") for ln in (scientific / "Scientific.user2index").read_text().splitlines())
    items = dict(ln.split("\t") for ln in (scientific / "Scientific.item2index").read_text().splitlines())
    user_of = {i: u for u, i in users.items()}
    item_of = {i: a for a, i in items.items()}
    train = {u: [str(a) for a in s] for u, s in sequences(split.train.to_frame()).items()}
    valid = {u: s for u, s in sequences(split.valid.to_frame()).items()}
    test = {u: s for u, s in sequences(split.test.to_frame()).items()}
    long_users = 0
    for u, hist, target in _inter(scientific / "Scientific.valid.inter"):
        raw_user = user_of[u]
        assert valid[raw_user] == [item_of[target]]
        history = [item_of[i] for i in hist]
        if len(train[raw_user]) < 50:
            assert train[raw_user] == history
        else:
            long_users += 1
            assert train[raw_user][-50:] == history
    assert long_users > 0  # the suffix branch is exercised
    for u, _, target in _inter(scientific / "Scientific.test.inter"):
        assert test[user_of[u]] == [item_of[target]]
    assert len(valid) == len(test) == 8_442
    # training rows, longest first per user: row k of a user with train sequence s targets s[len(s) - 1 - k]
    seen: dict[str, int] = {}
    for u, hist, target in _inter(scientific / "Scientific.train.inter"):
        seq = train[user_of[u]]
        q = len(seq) - 1 - seen.get(u, 0)
        seen[u] = seen.get(u, 0) + 1
        assert ([item_of[i] for i in hist], item_of[target]) == (seq[max(0, q - 50) : q], seq[q])
    assert sum(seen.values()) == 34_101 and all(len(train[user_of[u]]) == k + 1 for u, k in seen.items())
    # leave-one-out on the same cleaned log gives the same parts
    loo = splits.leave_one_out(data)
    for part in ("train", "valid", "test"):
        a, b = getattr(loo, part), getattr(split, part)
        assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)


def test_scientific_checksums_are_verified(scientific: Path, tmp_path: Path) -> None:
    copy = tmp_path / "amazon2018-scientific-unisrec"
    copy.mkdir()
    for f in scientific.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    text = copy / "Scientific.text"
    text.write_bytes(text.read_bytes().replace(b"Gorilla", b"Gorila", 1))
    with pytest.raises(DataError, match=r"Scientific\.text: sha256 .* does not match the published 95887e6b"):
        load_dataset("amazon2018-scientific-unisrec", path=copy)


def test_scientific_without_a_copy_says_where_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LMREC_DATA_HOME", raising=False)
    monkeypatch.setenv("LMREC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetNotFoundError, match="no official download is registered") as info:
        load_dataset("amazon2018-scientific-unisrec")
    assert "Google Drive link in the RUCAIBox/UniSRec README" in str(info.value)
    assert "LMREC_DATA_HOME=/folder/containing/amazon2018-scientific-unisrec" in str(info.value)


def test_lmrec_run_with_split_given_end_to_end(tmp_path: Path) -> None:
    import json

    import yaml
    from typer.testing import CliRunner

    from lmrec.cli.app import app

    folder = write_unisrec(tmp_path / "d")
    spec = _experiment(
        folder, evaluation={"ns": [3], "metrics": ["hit_rate"], "select_by": "HR@3", "exclude_seen": False}
    )
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(spec))
    res = CliRunner().invoke(
        app, ["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "out"), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["data"]["split"]["name"] == "given"
    # Pop on train+valid (users per item: C 3; A, B, E 2; D, F 1) ranks C, A, B: only u2 hits (B)
    assert results["models"][0]["test"]["HR@3"] == pytest.approx(1 / 3)


def test_data_info_on_the_staged_set(scientific: Path) -> None:
    import json

    from typer.testing import CliRunner

    from lmrec.cli.app import app

    args = ["data", "info", "amazon2018-scientific-unisrec", "--data", str(scientific), "--json"]
    res = CliRunner().invoke(app, [*args, "--clean", "duplicates=keep_all"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["card"]["n_interactions"] == 59_427 and info["source"]["format"] == "unisrec-atomic"
