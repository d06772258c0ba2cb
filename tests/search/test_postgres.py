"""The PostgreSQL backend's SQL builder, without a server (the PostgreSQL suite runs the SQL itself)."""

from __future__ import annotations

import re

from reviews.search.postgres import PgQuery, PostgresBackend, rewritten_vector_sql
from reviews.search.query import parse_query

BACKEND = PostgresBackend()


def test_it_binds_every_term_and_compiles_the_index_form_without_exclusions():
    parsed = parse_query('refund OR chargeback "late delivery" -voicemail')
    exact_sql, exact_params = BACKEND.expression(parsed, masks_rewritten=True, with_exclusions=True)
    index_sql, index_params = BACKEND.expression(parsed, masks_rewritten=False, with_exclusions=False)
    assert exact_params == ["refund", "chargeback", "late delivery", "voicemail"]
    assert exact_sql.count("phraseto_tsquery('english', %s)") == 4 and "!!(" in exact_sql
    assert index_params == ["refund", "chargeback", "late delivery"] and "!!" not in index_sql
    assert " || " in exact_sql and " && " in exact_sql
    assert "refund" not in exact_sql  # user text only ever as a parameter


def test_it_compiles_a_mask_term_to_its_indexed_words_only_in_the_exact_form():
    parsed = parse_query("[card number] -[phone]")
    _, exact_params = BACKEND.expression(parsed, masks_rewritten=True, with_exclusions=True)
    _, index_params = BACKEND.expression(parsed, masks_rewritten=False, with_exclusions=False)
    assert exact_params == ["qqmaskcard qqmasknumber", "qqmaskphone"]
    assert index_params == ["card number"]  # what search_vector holds: the GIN index finds the candidates


def test_it_checks_a_row_with_brackets_on_its_rewritten_text():
    compiled = PgQuery(exact="'card' & !'fee'", index="'card'")
    sql, params = BACKEND.match(compiled)
    vector, vector_params = rewritten_vector_sql()
    assert sql.startswith("(u.search_vector @@ %s::tsquery AND CASE WHEN strpos(u.text, '[') > 0")
    assert f"THEN {vector} @@ %s::tsquery ELSE u.search_vector @@ %s::tsquery END)" in sql
    assert params == [compiled.index, *vector_params, compiled.exact, compiled.exact]
    assert sql.count("%s") == len(params)


def test_it_builds_the_rewritten_vector_like_the_index_migration():
    vector, params = rewritten_vector_sql()
    # Migration 0004: to_tsvector('english', translate(left(coalesce(text, ''), 100000), '<>', '  ')).
    assert vector.startswith("to_tsvector('english', translate(regexp_replace(")
    assert vector.endswith(", '<>', '  '))")
    assert "left(coalesce(u.text, ''), 100000)" in vector
    assert vector.count("regexp_replace(") == len(params) // 2 and vector.count("%s") == len(params)
    assert all(re.compile(pattern) for pattern in params[::2])


def test_it_ranks_by_the_index_form():
    sql, params = BACKEND.score(PgQuery(exact="'qqmaskcard'", index="'card'"))
    assert sql == "ts_rank(u.search_vector, %s::tsquery, 1)" and params == ["'card'"]
