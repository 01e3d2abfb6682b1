"""ItemTextTemplate: rendering, cleanup of missing fields, errors, alignment with a vocabulary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from lmrec.data.catalog import ItemCatalog
from lmrec.data.vocabulary import Vocabulary
from lmrec.errors import ConfigError
from lmrec.text import ItemTextTemplate, item_texts

NAN = float("nan")
FULL = "{title}. Genres: {genres}. {description}"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"title": "Toy Story (1995)", "genres": "Animation|Children's", "description": "Toys live."},
            "Toy Story (1995). Genres: Animation, Children's. Toys live.",
        ),
        # a missing middle field takes its label and one separator with it
        ({"title": "Toy Story", "genres": NAN, "description": "Toys live."}, "Toy Story. Toys live."),
        # a missing first field leaves no leading separator
        ({"title": None, "genres": "Drama", "description": "Sad."}, "Genres: Drama. Sad."),
        # missing last field: no dangling "Genres: ." or trailing ". "
        ({"title": "Heat", "genres": "Crime", "description": ""}, "Heat. Genres: Crime"),
        ({"title": "Heat", "genres": "  ", "description": pd.NA}, "Heat"),
        # lists are joined with ", "; empty elements dropped; white space collapsed
        (
            {"title": "A\n  B", "genres": ["Sci-Fi", None, "War"], "description": np.array(["x", "y"])},
            "A B. Genres: Sci-Fi, War. x, y",
        ),
        ({"title": NAN, "genres": NAN, "description": NAN}, ""),
        ({"title": NAN, "genres": [], "description": None}, ""),
    ],
)
def test_render_cleans_up_missing_fields(row: dict[str, Any], expected: str) -> None:
    assert ItemTextTemplate(FULL).render(row) == expected


def test_a_value_ending_a_sentence_is_not_followed_by_a_second_period() -> None:
    t = ItemTextTemplate("{title}. {description}.")
    assert t.render({"title": "Wow!", "description": "It ends."}) == "Wow! It ends."
    assert t.render({"title": "Plain", "description": NAN}) == "Plain."


def test_brackets_go_with_their_field_and_floats_render_as_integers() -> None:
    t = ItemTextTemplate("Title: {title} ({year}) - {brand}")
    assert t.render({"title": "A", "year": 1995.0, "brand": "B"}) == "Title: A (1995) - B"
    assert t.render({"title": "A", "year": NAN, "brand": "B"}) == "Title: A - B"
    assert t.render({"title": NAN, "year": 2.5, "brand": NAN}) == "(2.5)"


def test_pipe_lists_are_split_only_in_list_fields() -> None:
    row = {"title": "A|B", "genres": "Comedy|Drama"}
    assert ItemTextTemplate("{title}: {genres}").render(row) == "A|B: Comedy, Drama"
    custom = ItemTextTemplate("{title}: {genres}", list_fields=("title",))
    assert custom.render(row) == "A, B: Comedy|Drama"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{}", "must name a catalog column"),
        ("{0}", "must name a catalog column"),
        ("{title.upper}", "must name a catalog column"),
        ("{title[0]}", "must name a catalog column"),
        ("{title!r}", "conversion or format spec"),
        ("{year:>4}", "conversion or format spec"),
        ("no field at all", "uses no field"),
        ("{title", "not a valid format string"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ItemTextTemplate(template)


def test_literal_braces_and_odd_column_names() -> None:
    t = ItemTextTemplate("{{x}} {Children's}")
    assert t.fields == ("Children's",)
    assert t.render({"Children's": "yes"}) == "{x} yes"


def catalog() -> ItemCatalog:
    frame = pd.DataFrame(
        {
            "title": ["Toy Story (1995)", "Heat (1995)", None, "Casino (1995)"],
            "genres": ["Animation|Children's", NAN, NAN, "Crime|Drama"],
            "url": ["u1", "u2", "u3", "u4"],
        },
        index=pd.Index([1, 2, 3, 5], name="item"),
    )
    return ItemCatalog(frame, ("title", "genres"))


def test_unknown_field_lists_the_catalog_columns() -> None:
    with pytest.raises(ConfigError, match=r"\['plot'\].*\['title', 'genres', 'url'\]"):
        item_texts(catalog(), Vocabulary(np.array([1, 2])), "{title}. {plot}")


def test_default_template_joins_the_text_fields() -> None:
    t = ItemTextTemplate.default(catalog())
    assert t.template == "{title}. {genres}"
    with pytest.raises(ConfigError, match=r"no text_fields.*'title', 'genres', 'url'"):
        ItemTextTemplate.default(ItemCatalog(catalog().frame))


def test_item_texts_are_aligned_with_the_vocabulary() -> None:
    vocab = Vocabulary(np.array([1, 2, 3, 4, 5]))  # item 4 has no catalog row, item 3 has no text
    texts = item_texts(catalog(), vocab)
    assert texts.texts == [
        "Toy Story (1995). Animation, Children's",
        "Heat (1995)",
        "",
        "",
        "Casino (1995). Crime, Drama",
    ]
    np.testing.assert_array_equal(texts.has_text, [True, True, False, False, True])
    np.testing.assert_array_equal(texts.in_catalog, [True, True, True, False, True])
    assert len(texts) == 5
    assert item_texts(catalog(), vocab, "{url}").texts == ["u1", "u2", "u3", "", "u4"]


def test_item_texts_match_string_vocabulary_ids_to_integer_catalog_ids() -> None:
    vocab = Vocabulary(np.array(["1", "5", "9"]))
    texts = item_texts(catalog(), vocab, ItemTextTemplate("{title}"))
    assert texts.texts == ["Toy Story (1995)", "Casino (1995)", ""]
    np.testing.assert_array_equal(texts.has_text, [True, True, False])
