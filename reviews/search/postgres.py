"""PostgreSQL backend: stored generated tsvector column search_vector + GIN index (migrations 0003, 0004).

User terms reach PostgreSQL only as bound parameters of phraseto_tsquery(), combined with
&&, || and !!; PostgreSQL then hands back the canonical tsquery text, which we bind again
as %s::tsquery. No user text is ever parsed by to_tsquery().

search_vector indexes a mask token's words like any others, so a query compiles twice (PgQuery):
- `index`: the positive terms only, mask terms as their plain words: what the GIN index can find;
- `exact`: the whole query, mask terms as the words the rewritten text holds (reviews/search/mask_index.py).
A row the index finds is then tested with `exact`: on search_vector itself when its text has no `[` or `<` (then
it holds no mask token), else on the tsvector of its rewritten text, so "card" does not match inside
"[card number]" and `-card` does not drop a row whose only "card" is a mask token's.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from reviews.search.mask_index import postgres_rewrite_sql, prefixed, strip_prefix
from reviews.search.query import ParsedQuery, Term
from reviews.search.snippets import START, STOP, complete_mask_tokens

CONFIG = "english"
FRAGMENT_DELIMITER = " … "
HEADLINE_OPTIONS = (
    f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, "
    f'FragmentDelimiter="{FRAGMENT_DELIMITER}"'
)
LT_PLACEHOLDER, GT_PLACEHOLDER = "\ue000", "\ue001"
# The text search_vector indexes (migration 0004), before its angle brackets become spaces.
INDEXED_TEXT = "left(coalesce(u.text, ''), 100000)"


def restore_angle_brackets(headline: str) -> str:
    return headline.replace(LT_PLACEHOLDER, "<").replace(GT_PLACEHOLDER, ">")


@dataclass(frozen=True)
class PgQuery:
    """A compiled query: canonical tsquery texts (module docstring)."""

    exact: str
    index: str


def _term_sql(term: Term, *, masks_rewritten: bool) -> tuple[str, list]:
    words = prefixed(term.words) if term.mask and masks_rewritten else term.words
    return f"phraseto_tsquery('{CONFIG}', %s)", [" ".join(words)]


def rewritten_vector_sql() -> tuple[str, list]:
    """The tsvector of the utterance text with its mask tokens rewritten, indexed as search_vector is."""
    rewritten, params = postgres_rewrite_sql(INDEXED_TEXT)
    return f"to_tsvector('{CONFIG}', translate({rewritten}, '<>', '  '))", params


class PostgresBackend:
    vendor = "postgresql"
    source_sql = "reviews_utterance u"
    newest_first_sql = "u.id DESC"
    # Keeps the planner from pushing ORDER BY id LIMIT into the match (the rare-term trap, perf doc §2).
    newest_first_is_free = False
    materialized = "MATERIALIZED"
    rowid_sql = "u.id"
    # GIN + bitmap scans already apply the conversation filters well (filtered p95 66 ms at 1M); keep that plan.
    supports_rowid_buckets = False

    def compile(self, parsed: ParsedQuery) -> PgQuery | None:
        """Canonical tsquery texts, or None when nothing can match (no terms, or only stop words)."""
        if not parsed.has_positive_terms:
            return None
        exact_sql, exact_params = self.expression(parsed, masks_rewritten=True, with_exclusions=True)
        index_sql, index_params = self.expression(parsed, masks_rewritten=False, with_exclusions=False)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT ({exact_sql})::text, ({index_sql})::text", [*exact_params, *index_params])
            exact, index = cursor.fetchone()
        return PgQuery(exact=exact, index=index) if index else None

    def expression(self, parsed: ParsedQuery, *, masks_rewritten: bool, with_exclusions: bool) -> tuple[str, list]:
        """The tsquery expression (bound parameters only) of the query; see PgQuery for the two forms."""
        parts: list[str] = []
        params: list = []
        for clause in parsed.clauses:
            sqls = []
            for term in clause:
                sql, term_params = _term_sql(term, masks_rewritten=masks_rewritten)
                sqls.append(sql)
                params += term_params
            parts.append("(" + " || ".join(sqls) + ")")
        for excluded in parsed.exclusions if with_exclusions else ():
            sql, term_params = _term_sql(excluded, masks_rewritten=masks_rewritten)
            parts.append(f"!!({sql})")
            params += term_params
        return " && ".join(parts), params

    def match(self, compiled: PgQuery) -> tuple[str, list]:
        vector, vector_params = rewritten_vector_sql()
        sql = (
            "(u.search_vector @@ %s::tsquery AND CASE WHEN strpos(u.text, '[') > 0 OR strpos(u.text, '<') > 0 "
            f"THEN {vector} @@ %s::tsquery ELSE u.search_vector @@ %s::tsquery END)"
        )
        return sql, [compiled.index, *vector_params, compiled.exact, compiled.exact]

    def score(self, compiled: PgQuery) -> tuple[str, list]:
        # Normalization 1 divides by 1 + log(length): a short utterance that is about the term ranks first, like bm25.
        return "ts_rank(u.search_vector, %s::tsquery, 1)", [compiled.index]

    def snippets(self, compiled: PgQuery, ids: list[int]) -> dict[int, str]:
        # ts_headline re-parses the original text (slow), so it runs only for the page's rows.
        if not ids:
            return {}
        # The headline is cut from the rewritten text, so it marks what `exact` matched (never a mask token's words
        # for a plain word); strip_prefix gives back the text as stored. ts_headline drops anything that parses as
        # an HTML tag: angle brackets hide in private-use characters (escaping happens later, in snippets.py).
        rewritten, rewrite_params = postgres_rewrite_sql("u.text")
        sql = (
            f"SELECT u.id, u.text, ts_headline('{CONFIG}', replace(replace({rewritten}, '<', %s), '>', %s), "
            "%s::tsquery, %s) FROM reviews_utterance u WHERE u.id = ANY(%s)"
        )
        params = [*rewrite_params, LT_PLACEHOLDER, GT_PLACEHOLDER, compiled.exact, HEADLINE_OPTIONS, list(ids)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {
                pk: complete_mask_tokens(
                    strip_prefix(restore_angle_brackets(headline)), text, delimiter=FRAGMENT_DELIMITER
                )
                for pk, text, headline in cursor.fetchall()
            }
