"""Search as a work list (issue 13 §5): a plain word no longer matches inside a mask token.

SQLite: reviews_utterance_fts becomes an FTS5 table with its own copy of the text, in which each mask token's words
carry a prefix (`[card number]` is indexed as `[qqmaskcard qqmasknumber]`: reviews/search/mask_index.py); the
triggers write that copy, and the index is filled from the current rows. An external-content table cannot do it:
its content must be reviews_utterance.text itself ('rebuild', 'integrity-check' and snippets read it), and a view
as its content would stop Django from ever rebuilding reviews_utterance (SQLite checks views on ALTER TABLE).
PostgreSQL: nothing changes in the schema; the search checks a match inside a mask token at query time
(reviews/search/postgres.py).
The DDL and the token list are inlined on purpose: a migration must not change when application code does
(tests/search/test_mask_index.py holds them equal to the application's).
"""

from __future__ import annotations

from django.db import migrations

# (mask token as written, as indexed), in chunks SQLite's parser takes in one statement: the lower-case forms,
# then the capitalised ones, applied only where a bracket is followed by a capital.
FORM_CHUNKS = (
    (
        ("[card number]", "[qqmaskcard qqmasknumber]"),
        ("[card expiry date]", "[qqmaskcard qqmaskexpiry qqmaskdate]"),
        ("[phone]", "[qqmaskphone]"),
        ("[email]", "[qqmaskemail]"),
        ("[name]", "[qqmaskname]"),
        ("[postal code]", "[qqmaskpostal qqmaskcode]"),
        ("[location]", "[qqmasklocation]"),
        ("[national id]", "[qqmasknational qqmaskid]"),
        ("[user info]", "[qqmaskuser qqmaskinfo]"),
        ("[personal info]", "[qqmaskpersonal qqmaskinfo]"),
        ("[card number*]", "[qqmaskcard qqmasknumber*]"),
        ("[national id*]", "[qqmasknational qqmaskid*]"),
        ("[bank account*]", "[qqmaskbank qqmaskaccount*]"),
        ("[email*]", "[qqmaskemail*]"),
        ("[phone*]", "[qqmaskphone*]"),
        ("<redacted>", "<qqmaskredacted>"),
        ("[redacted_pii]", "[qqmaskredacted_qqmaskpii]"),
    ),
    (
        ("[CARD NUMBER]", "[qqmaskCARD qqmaskNUMBER]"),
        ("[Card Number]", "[qqmaskCard qqmaskNumber]"),
        ("[Card number]", "[qqmaskCard qqmasknumber]"),
        ("[CARD EXPIRY DATE]", "[qqmaskCARD qqmaskEXPIRY qqmaskDATE]"),
        ("[Card Expiry Date]", "[qqmaskCard qqmaskExpiry qqmaskDate]"),
        ("[Card expiry date]", "[qqmaskCard qqmaskexpiry qqmaskdate]"),
        ("[PHONE]", "[qqmaskPHONE]"),
        ("[Phone]", "[qqmaskPhone]"),
        ("[EMAIL]", "[qqmaskEMAIL]"),
        ("[Email]", "[qqmaskEmail]"),
        ("[NAME]", "[qqmaskNAME]"),
        ("[Name]", "[qqmaskName]"),
        ("[POSTAL CODE]", "[qqmaskPOSTAL qqmaskCODE]"),
        ("[Postal Code]", "[qqmaskPostal qqmaskCode]"),
        ("[Postal code]", "[qqmaskPostal qqmaskcode]"),
    ),
    (
        ("[LOCATION]", "[qqmaskLOCATION]"),
        ("[Location]", "[qqmaskLocation]"),
        ("[NATIONAL ID]", "[qqmaskNATIONAL qqmaskID]"),
        ("[National Id]", "[qqmaskNational qqmaskId]"),
        ("[National id]", "[qqmaskNational qqmaskid]"),
        ("[USER INFO]", "[qqmaskUSER qqmaskINFO]"),
        ("[User Info]", "[qqmaskUser qqmaskInfo]"),
        ("[User info]", "[qqmaskUser qqmaskinfo]"),
        ("[PERSONAL INFO]", "[qqmaskPERSONAL qqmaskINFO]"),
        ("[Personal Info]", "[qqmaskPersonal qqmaskInfo]"),
        ("[Personal info]", "[qqmaskPersonal qqmaskinfo]"),
        ("[CARD NUMBER*]", "[qqmaskCARD qqmaskNUMBER*]"),
        ("[Card Number*]", "[qqmaskCard qqmaskNumber*]"),
        ("[Card number*]", "[qqmaskCard qqmasknumber*]"),
        ("[NATIONAL ID*]", "[qqmaskNATIONAL qqmaskID*]"),
    ),
    (
        ("[National Id*]", "[qqmaskNational qqmaskId*]"),
        ("[National id*]", "[qqmaskNational qqmaskid*]"),
        ("[BANK ACCOUNT*]", "[qqmaskBANK qqmaskACCOUNT*]"),
        ("[Bank Account*]", "[qqmaskBank qqmaskAccount*]"),
        ("[Bank account*]", "[qqmaskBank qqmaskaccount*]"),
        ("[EMAIL*]", "[qqmaskEMAIL*]"),
        ("[Email*]", "[qqmaskEmail*]"),
        ("[PHONE*]", "[qqmaskPHONE*]"),
        ("[Phone*]", "[qqmaskPhone*]"),
        ("<REDACTED>", "<qqmaskREDACTED>"),
        ("<Redacted>", "<qqmaskRedacted>"),
        ("[REDACTED_PII]", "[qqmaskREDACTED_qqmaskPII]"),
        ("[Redacted_Pii]", "[qqmaskRedacted_qqmaskPii]"),
        ("[Redacted_pii]", "[qqmaskRedacted_qqmaskpii]"),
    ),
)
CAPITALS_GLOB = "*[[<][A-Z]*"
TOKENIZE = "porter unicode61 remove_diacritics 2"


def replaced(column: str, forms) -> str:
    expression = column
    for written, indexed in forms:
        expression = f"replace({expression}, '{written}', '{indexed}')"
    return f"CASE WHEN instr({column}, '[') = 0 AND instr({column}, '<') = 0 THEN {column} ELSE {expression} END"


def index_new_row() -> str:
    first, *rest = FORM_CHUNKS
    statements = [f"INSERT INTO reviews_utterance_fts(rowid, text) VALUES (new.id, {replaced('new.text', first)});"]
    statements += [
        f"UPDATE reviews_utterance_fts SET text = {replaced('text', chunk)} "
        f"WHERE rowid = new.id AND new.text GLOB '{CAPITALS_GLOB}';"
        for chunk in rest
    ]
    return "\n        ".join(statements)


DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_ai",
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_ad",
    "DROP TRIGGER IF EXISTS reviews_utterance_fts_au",
)
TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_ai AFTER INSERT ON reviews_utterance BEGIN
        {index_new_row()}
    END""",
    """CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_ad AFTER DELETE ON reviews_utterance BEGIN
        DELETE FROM reviews_utterance_fts WHERE rowid = old.id;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS reviews_utterance_fts_au AFTER UPDATE OF id, text ON reviews_utterance BEGIN
        DELETE FROM reviews_utterance_fts WHERE rowid = old.id;
        {index_new_row()}
    END""",
)
SQLITE_FORWARD = (
    *DROP_TRIGGERS,
    "DROP TABLE IF EXISTS reviews_utterance_fts",
    f"CREATE VIRTUAL TABLE reviews_utterance_fts USING fts5(text, tokenize='{TOKENIZE}')",
    f"INSERT INTO reviews_utterance_fts(rowid, text) SELECT id, {replaced('text', FORM_CHUNKS[0])} FROM reviews_utterance",
    *(
        f"UPDATE reviews_utterance_fts SET text = {replaced('text', chunk)} WHERE rowid IN "
        f"(SELECT id FROM reviews_utterance WHERE text GLOB '{CAPITALS_GLOB}')"
        for chunk in FORM_CHUNKS[1:]
    ),
    *TRIGGERS,
)
# Back to migration 0003's external-content table over the stored text.
SQLITE_REVERSE = (
    *DROP_TRIGGERS,
    "DROP TABLE IF EXISTS reviews_utterance_fts",
    f"""CREATE VIRTUAL TABLE reviews_utterance_fts USING fts5(
        text, content='reviews_utterance', content_rowid='id', tokenize='{TOKENIZE}')""",
    """CREATE TRIGGER reviews_utterance_fts_ai AFTER INSERT ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER reviews_utterance_fts_ad AFTER DELETE ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(reviews_utterance_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER reviews_utterance_fts_au AFTER UPDATE OF id, text ON reviews_utterance BEGIN
        INSERT INTO reviews_utterance_fts(reviews_utterance_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO reviews_utterance_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES ('rebuild')",
)


def _run(schema_editor, statements) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in statements:
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    _run(schema_editor, SQLITE_FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0012_subject_requests")]

    operations = [migrations.RunPython(forward, backward)]
