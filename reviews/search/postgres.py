"""PostgreSQL backend: stored generated tsvector column search_vector + GIN index (migration 0003).

User terms reach PostgreSQL only as bound parameters of phraseto_tsquery(), combined with
&&, || and !!; PostgreSQL then hands back the canonical tsquery text, which we bind again
as %s::tsquery. No user text is ever parsed by to_tsquery().
"""

from __future__ import annotations

from django.db import connection

from reviews.search.query import ParsedQuery, Term
from reviews.search.snippets import START, STOP, complete_mask_tokens

CONFIG = "english"
FRAGMENT_DELIMITER = " … "
HEADLINE_OPTIONS = (
    f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=2, MaxFragments=2, "
    f'FragmentDelimiter="{FRAGMENT_DELIMITER}"'
)
LT_PLACEHOLDER, GT_PLACEHOLDER = "\ue000", "\ue001"


def restore_angle_brackets(headline: str) -> str:
    return headline.replace(LT_PLACEHOLDER, "<").replace(GT_PLACEHOLDER, ">")


def _term_sql(term: Term) -> tuple[str, list]:
    return f"phraseto_tsquery('{CONFIG}', %s)", [" ".join(term.words)]


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

    def compile(self, parsed: ParsedQuery) -> str | None:
        """Canonical tsquery text, or None when nothing can match (no terms, or only stop words)."""
        if not parsed.has_positive_terms:
            return None
        sql, params = self._expression(parsed)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT ({sql})::text", params)
            text = cursor.fetchone()[0]
        return text or None

    def _expression(self, parsed: ParsedQuery) -> tuple[str, list]:
        parts: list[str] = []
        params: list = []
        for clause in parsed.clauses:
            sqls = []
            for term in clause:
                sql, term_params = _term_sql(term)
                sqls.append(sql)
                params += term_params
            parts.append("(" + " || ".join(sqls) + ")")
        for excluded in parsed.exclusions:
            sql, term_params = _term_sql(excluded)
            parts.append(f"!!({sql})")
            params += term_params
        return " && ".join(parts), params

    def match(self, compiled: str) -> tuple[str, list]:
        return "u.search_vector @@ %s::tsquery", [compiled]

    def score(self, compiled: str) -> tuple[str, list]:
        # Normalization 1 divides by 1 + log(length): a short utterance that is about the term ranks first, like bm25.
        return "ts_rank(u.search_vector, %s::tsquery, 1)", [compiled]

    def snippets(self, compiled: str, ids: list[int]) -> dict[int, str]:
        # ts_headline re-parses the original text (slow), so it runs only for the page's rows.
        if not ids:
            return {}
        # ts_headline drops anything that parses as an HTML tag; hide angle brackets in private-use
        # characters so a supervisor still sees what was said (escaping happens later, in snippets.py).
        sql = (
            f"SELECT id, text, ts_headline('{CONFIG}', replace(replace(text, '<', %s), '>', %s), %s::tsquery, %s) "
            "FROM reviews_utterance WHERE id = ANY(%s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [LT_PLACEHOLDER, GT_PLACEHOLDER, compiled, HEADLINE_OPTIONS, list(ids)])
            return {
                pk: complete_mask_tokens(restore_angle_brackets(headline), text, delimiter=FRAGMENT_DELIMITER)
                for pk, text, headline in cursor.fetchall()
            }
