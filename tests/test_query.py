"""
Query builder: the recipe's SQL, built from validated parts only.
"""

import string

import pytest

from hypothesis import given, strategies as st
from txtai import Embeddings

from txtai_imagehash import config, documents, query


def test_query_shape():
    """
    The recipe's query, with the distance selected, a filter and a limit.
    """

    assert query("ffee") == "select id, object, distance(text, 'ffee') distance from txtai order by distance(text, 'ffee')"

    sql = query("00ff", select="id, path", metric="hamming", limit=5, maxdistance=10)
    assert sql == (
        "select id, path, hamming(text, '00ff') hamming from txtai where hamming(text, '00ff') is not null "
        "and hamming(text, '00ff') <= 10 order by hamming(text, '00ff') limit 5"
    )


@pytest.mark.parametrize(
    "hash",
    ["' or 1=1 --", "ff' union select * from txtai --", "", "ff ", "0xff", "ff;drop table sections", "ｆｆ", "f" * 1025, None, 123],
)
def test_bad_hashes_rejected(hash):
    """
    Injection attempts and non-hex hashes never become SQL.
    """

    with pytest.raises(ValueError, match="Invalid hash"):
        query(hash)


def test_bad_arguments_rejected():
    """
    select, metric, limit and maxdistance are validated too.
    """

    for select in ["id; drop table sections", "id, object from txtai --", "(select 1)", "", "id,"]:
        with pytest.raises(ValueError, match="Invalid select"):
            query("ff", select=select)

    with pytest.raises(ValueError, match="Invalid metric"):
        query("ff", metric="length")

    for limit in [-1, "5", 1.5, True, "1; drop"]:
        with pytest.raises(ValueError, match="Invalid limit"):
            query("ff", limit=limit)

    with pytest.raises(ValueError, match="Invalid maxdistance"):
        query("ff", maxdistance="1 or 1=1")


@given(st.text(max_size=30))
def test_any_text_is_hex_or_rejected(text):
    """
    Property: a string is accepted only when it is plain hex, and then it appears verbatim in one quoted literal.
    """

    if text and all(c in string.hexdigits for c in text) and text.isascii():
        sql = query(text)
        assert sql.count("'") == 4 and f"'{text}'" in sql
    else:
        with pytest.raises(ValueError):
            query(text)


def test_injection_never_executes(photos):
    """
    Against a real index: the classic injection is rejected and the index is intact afterwards.
    """

    embeddings = Embeddings(config())
    embeddings.index(documents([photos["coffee"], photos["rocket"]]))

    with pytest.raises(ValueError):
        embeddings.search(query("' or 1=1 --"))

    assert embeddings.count() == 2
    assert len(embeddings.search(query("0" * 16, limit=10))) == 2


@given(st.text(max_size=40))
def test_any_select_is_columns_or_rejected(text):
    """
    Property: select text is accepted only as a list of column names, so it cannot add clauses or statements.
    """

    names = [part.strip() for part in text.split(",")]
    plain = all(name.isascii() and (name == "*" or name.replace("_", "a").isalnum() and not name[0].isdigit()) for name in names)

    if plain and text.strip() and "*" not in names[1:]:
        sql = query("ab", select=text)
        assert sql.startswith(f"select {text}, distance(text, 'ab') distance from txtai order by")
    else:
        with pytest.raises(ValueError):
            query("ab", select=text)


def test_limits_within_sql_integers():
    """
    limit and maxdistance are bounded by SQL's largest integer (2^63 - 1): a larger one is refused by query(), not
    by the database; the largest runs in SQLite.
    """

    for name in ["limit", "maxdistance"]:
        with pytest.raises(ValueError, match=f"Invalid {name} {10**30}: expected an integer from 0 to {2**63 - 1}"):
            query("ff00ff00ff00ff00", **{name: 10**30})

    embeddings = Embeddings(config())
    embeddings.index([("a", {"text": "ff00ff00ff00ff00"}, None), ("b", {"text": "ff00ff00ff00ff01"}, None)])
    sql = query("ff00ff00ff00ff00", select="id", metric="hamming", limit=2**63 - 1, maxdistance=2**63 - 1)
    assert embeddings.search(sql) == [{"id": "a", "hamming": 0}, {"id": "b", "hamming": 1}]
