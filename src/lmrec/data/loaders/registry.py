"""Datasets lmrec knows by name: official source, checksum, terms, and which files make a complete copy.

Pure data (no I/O) so that both the loaders and `lmrec.data.download` can import it. Checksums are only
recorded where they are known for certain; an entry without one can be downloaded only with
`verify=False`. Releases that GroupLens or UCSD replace over time (ml-latest*, Amazon 2018 metadata) get no
per-file checksums, because a newer genuine copy would fail them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmrec.errors import DatasetNotFoundError

GROUPLENS_BENCHMARK_TERMS = (
    "GroupLens MovieLens terms: research use only; do not state or imply endorsement by the University of "
    "Minnesota or GroupLens; acknowledge use and cite F. M. Harper and J. A. Konstan, 'The MovieLens "
    "Datasets: History and Context', ACM TiiS 5(4), 2015; no redistribution without separate permission; "
    "no commercial or revenue-bearing use without permission."
)
GROUPLENS_LATEST_TERMS = (
    "GroupLens MovieLens terms: research use; no endorsement implied; cite F. M. Harper and J. A. Konstan, "
    "ACM TiiS 5(4), 2015; redistribution (including transformations) only under these same terms; no "
    "commercial or revenue-bearing use without permission from GroupLens."
)
AMAZON_2014_TERMS = (
    "Amazon product data (J. McAuley, UCSD), research use only, no redistribution licence; cite McAuley et "
    "al., SIGIR 2015 and He & McAuley, WWW 2016. Review text is Amazon user content."
)
AMAZON_2018_TERMS = (
    "Amazon Review Data 2018 (J. Ni, J. Li, J. McAuley, UCSD), research use only, no redistribution "
    "licence; cite Ni, Li & McAuley, EMNLP 2019. Review and product text is Amazon content."
)
S3REC_TERMS = (
    "Preprocessed Amazon 2014 review data (S3-Rec / ICLRec benchmark files): research use only; cite "
    "McAuley et al., SIGIR 2015, He & McAuley, WWW 2016 and Zhou et al., CIKM 2020."
)
YELP_TERMS = (
    "Preprocessed Yelp Dataset Challenge data (S3-Rec / ICLRec benchmark file): Yelp dataset terms, "
    "academic non-commercial use only; cite Zhou et al., CIKM 2020."
)
SASREC_GAMES_TERMS = (
    "Preprocessed Amazon 2014 Video Games reviews (SASRec 'Games' file): research use only; cite Kang & "
    "McAuley, ICDM 2018 and McAuley et al., SIGIR 2015."
)
UNISREC_SCIENTIFIC_TERMS = (
    "Amazon Review Data 2018 (J. Ni, J. Li, J. McAuley, UCSD) as processed for UniSRec: research use only, "
    "no redistribution licence; cite Ni, Li & McAuley, EMNLP 2019 and Hou et al., 'Towards Universal "
    "Sequence Representation Learning for Recommender Systems', KDD 2022. Product text is Amazon content."
)
UNKNOWN_TERMS = "unknown: check the terms of whoever published this file"

_GL = "https://files.grouplens.org/datasets/movielens/"
_SNAP = "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"
_UCSD18 = (
    "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2/",
    "https://jmcauley.ucsd.edu/data/amazon_v2/",
)


@dataclass(frozen=True)
class Download:
    """One file to fetch: the same bytes may be offered by several official mirrors."""

    urls: tuple[str, ...]
    """Official URLs, tried in order."""
    filename: str
    """Name of the file in the cache."""
    checksum: str | None = None
    """`sha256:<hex>` or `md5:<hex>` of the file; None when unknown (download then needs verify=False)."""
    size: int | None = None
    """Size in bytes, checked before the checksum when known."""


@dataclass(frozen=True)
class DatasetEntry:
    """A named dataset: where it officially comes from and what a complete local copy contains."""

    name: str
    """Registry name (lower case), e.g. `ml-100k`."""
    kind: str
    """Loader family: movielens, amazon, sequences, tabular or unisrec."""
    description: str
    """One line for `lmrec data list`."""
    license: str
    """Short statement of the terms of use."""
    files: tuple[str, ...]
    """Base names a complete copy must contain; `a|b` accepts either name."""
    downloads: tuple[Download, ...] = ()
    """Official downloads; empty when there is none and a local copy is required."""
    folders: tuple[str, ...] = ()
    """Folder (or `<folder>.zip`) names looked for under LMREC_DATA_HOME and the cache; default: name."""
    file_checksums: Mapping[str, str] = field(default_factory=dict)
    """Known `sha256:`/`md5:` checksums of individual files of a local copy, verified before use."""
    load_file: str | None = None
    """The file to load when the folder holds several datasets (e.g. Beauty.txt in amazon-s3rec)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Loader keyword options this dataset needs (e.g. layout="pairs")."""
    homepage: str = ""
    """Page describing the dataset and its terms."""
    obtain: str = ""
    """Where to get a copy when there is no direct download (e.g. a link on a project page)."""

    @property
    def url(self) -> str | None:
        """The first official URL, or None when the dataset has no official download."""
        return self.downloads[0].urls[0] if self.downloads else None

    @property
    def folder_names(self) -> tuple[str, ...]:
        names = self.folders or (self.name,)
        return names if self.name in names else (*names, self.name)

    def missing(self, present: list[str]) -> list[str]:
        """Required files absent from `present` (base names)."""
        have = set(present)
        return [f for f in self.files if not any(alt in have for alt in f.split("|"))]


def _ml(
    name: str,
    files: tuple[str, ...],
    *,
    checksum: str | None = None,
    size: int | None = None,
    folders: tuple[str, ...] = (),
    latest: bool = False,
    file_checksums: Mapping[str, str] | None = None,
    description: str = "",
) -> DatasetEntry:
    return DatasetEntry(
        name=name,
        kind="movielens",
        description=description,
        license=GROUPLENS_LATEST_TERMS if latest else GROUPLENS_BENCHMARK_TERMS,
        files=files,
        downloads=(Download((f"{_GL}{name}.zip",), f"{name}.zip", checksum, size),),
        folders=folders,
        file_checksums=file_checksums or {},
        homepage="https://grouplens.org/datasets/movielens/",
    )


_ML100K_FILES = {
    "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}


def _s3rec(
    name: str, folder: str, file: str, sha256: str, terms: str, description: str, **options: Any
) -> DatasetEntry:
    return DatasetEntry(
        name=name,
        kind="sequences",
        description=description,
        license=terms,
        files=(file,),
        folders=(folder,),
        file_checksums={file: f"sha256:{sha256}"},
        load_file=file,
        options=options,
    )


_UNISREC_SCIENTIFIC = {
    "Scientific.item2index": "896ab1017508cf20834d3d0537da9f8f624324223a835af272a98ba16f8c087a",
    "Scientific.user2index": "f0162b1a3a0c6b7e816f86208e7b36f65d6787923126f9558fbc6d368e4c4974",
    "Scientific.text": "95887e6bda76e54f59b71b566320520d5da74e21d3b6ff8f20bfb6e8e84aa831",
    "Scientific.train.inter": "7284f6489d956fa20c9b64ffc84569264320edba5c3bc2fcb22db2ea083a1163",
    "Scientific.valid.inter": "5f37c84d3b54617cdc46638c89dfe8741c7efc4987acd5eb64de2cbd4311f46c",
    "Scientific.test.inter": "546da7e5f44002b4518d7fd58066684bc09613f76c240914e16976d57cfe7083",
}

_ENTRIES = (
    _ml(
        "ml-100k",
        ("u.data", "u.item"),
        checksum="sha256:50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4_924_029,
        file_checksums={k: f"sha256:{v}" for k, v in _ML100K_FILES.items()},
        description="MovieLens 100K: 100,000 ratings 1-5, 943 users, 1,682 movies (1997-98), official folds",
    ),
    _ml(
        "ml-1m",
        ("ratings.dat", "movies.dat"),
        checksum="md5:c4d9eecfca2ab87c1945afe126590906",
        file_checksums={
            "movies.dat": "sha256:0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
            "users.dat": "sha256:1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
        },
        description="MovieLens 1M: 1,000,209 ratings 1-5, 6,040 users, 3,706 rated movies (2000-03)",
    ),
    _ml(
        "ml-10m",
        ("ratings.dat", "movies.dat"),
        checksum="md5:ce571fd55effeba0271552578f2648bd",
        folders=("ml-10m", "ml-10M100K"),
        description="MovieLens 10M: about 10 million half-star ratings plus tags",
    ),
    _ml("ml-20m", ("ratings.csv", "movies.csv"), description="MovieLens 20M (2015), ratings + tags"),
    _ml("ml-25m", ("ratings.csv", "movies.csv"), description="MovieLens 25M (2019), ratings + tags"),
    _ml("ml-32m", ("ratings.csv", "movies.csv"), description="MovieLens 32M (2023), ratings + tags"),
    _ml(
        "ml-latest-small",
        ("ratings.csv", "movies.csv"),
        latest=True,
        description="MovieLens latest-small (development set; GroupLens replaces it over time)",
    ),
    _ml(
        "ml-latest",
        ("ratings.csv", "movies.csv"),
        latest=True,
        description="MovieLens latest full (development set; changes over time)",
    ),
    _s3rec(
        "amazon-beauty",
        "amazon-s3rec",
        "Beauty.txt",
        "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        S3REC_TERMS,
        "Amazon 2014 Beauty 5-core as S3-Rec item sequences: 22,363 users, 12,101 items, 198,502 events",
    ),
    _s3rec(
        "amazon-sports",
        "amazon-s3rec",
        "Sports_and_Outdoors.txt",
        "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
        S3REC_TERMS,
        "Amazon 2014 Sports_and_Outdoors as S3-Rec sequences: 35,598 users, 18,357 items, 296,337 events",
    ),
    _s3rec(
        "amazon-toys",
        "amazon-s3rec",
        "Toys_and_Games.txt",
        "176c680c688d497598c4a89a03b402c0fe78d795e5db335c2e78dd5f2d778a3f",
        S3REC_TERMS,
        "Amazon 2014 Toys_and_Games as S3-Rec sequences: 19,412 users, 11,924 items, 167,597 events",
    ),
    _s3rec(
        "yelp",
        "yelp-s3rec",
        "Yelp.txt",
        "724b219106b81dd2349027da997334ddb6da9fe2f152ad6e0d97a93170f7caed",
        YELP_TERMS,
        "Yelp as S3-Rec item sequences: 30,431 users, 20,033 items, 316,354 events",
    ),
    _s3rec(
        "amazon-games",
        "amazon-games-sasrec",
        "Video.txt",
        "b7376fe24430743f411dc7f567285657b2adb3f74361cc7ba0aee94f3024b651",
        SASREC_GAMES_TERMS,
        "Amazon 2014 Video Games (SASRec 'Games' user-item lines): 31,013 users, 23,715 items",
        layout="pairs",
    ),
    DatasetEntry(
        name="amazon2014-musical-instruments",
        kind="amazon",
        description="Amazon 2014 Musical Instruments 5-core reviews: 10,261 reviews, 1,429 users, 900 items",
        license=AMAZON_2014_TERMS,
        files=("reviews_Musical_Instruments_5.json.gz|Musical_Instruments.json.gz",),
        downloads=(
            Download(
                (f"{_SNAP}reviews_Musical_Instruments_5.json.gz",), "reviews_Musical_Instruments_5.json.gz"
            ),
        ),
        folders=("amazon2014-musical-instruments-5core",),
        homepage="https://jmcauley.ucsd.edu/data/amazon/",
    ),
    DatasetEntry(
        name="amazon2018-magazine-subscriptions",
        kind="amazon",
        description="Amazon 2018 Magazine Subscriptions 5-core reviews + item metadata (2,375 reviews)",
        license=AMAZON_2018_TERMS,
        files=("Magazine_Subscriptions_5.json.gz", "meta_Magazine_Subscriptions.json.gz"),
        downloads=(
            Download(
                tuple(f"{u}categoryFilesSmall/Magazine_Subscriptions_5.json.gz" for u in _UCSD18),
                "Magazine_Subscriptions_5.json.gz",
            ),
            Download(
                tuple(f"{u}metaFiles2/meta_Magazine_Subscriptions.json.gz" for u in _UCSD18),
                "meta_Magazine_Subscriptions.json.gz",
            ),
        ),
        homepage="https://nijianmo.github.io/amazon/index.html",
    ),
    DatasetEntry(
        name="amazon2018-scientific-unisrec",
        kind="unisrec",
        description="Amazon 2018 Scientific as processed for UniSRec (KDD 2022): 8,442 users, 4,385 items, "
        "59,427 events, given leave-one-out split, item text",
        license=UNISREC_SCIENTIFIC_TERMS,
        files=tuple(_UNISREC_SCIENTIFIC),
        file_checksums={k: f"sha256:{v}" for k, v in _UNISREC_SCIENTIFIC.items()},
        options={"dataset": "Scientific"},
        homepage="https://github.com/RUCAIBox/UniSRec",
        obtain="the 'Scientific' downstream dataset behind the Google Drive link in the RUCAIBox/UniSRec "
        "README (https://github.com/RUCAIBox/UniSRec); the six Scientific.* files above (the BERT "
        "feature files are not needed)",
    ),
)

DATASETS: dict[str, DatasetEntry] = {e.name: e for e in _ENTRIES}
"""Registered datasets by name."""


def find_entry(name: str) -> DatasetEntry | None:
    """The entry registered under `name` (case-insensitive), or None."""
    return DATASETS.get(str(name).strip().lower())


def get_entry(name: str) -> DatasetEntry:
    """The entry registered under `name`; the error lists the known names."""
    entry = find_entry(name)
    if entry is None:
        raise DatasetNotFoundError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))} (or pass a local path)"
        )
    return entry
