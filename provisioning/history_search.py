"""History's search: any part of a device id, in any case, through a trigram index.

Migration 0013_history_search builds the index: pg_trgm's GIN index on LOWER(target) on
PostgreSQL, an FTS5 trigram table on SQLite. history.events calls search_matches and
containing.
"""

import re

from django.db import connection
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

SEARCH_LIMIT = 50_000  # up to this many matches are read through SQLite's trigram index; beyond, by time
TRIGRAM = 3  # a trigram index finds substrings of at least this many characters

# SQLite's trigram index is an FTS5 table (migration 0013_history_search). The ORM cannot
# name a virtual table or its MATCH operator, so these two queries are written as SQL.
# How many rows (of any team) contain the text, up to a limit:
SQLITE_COUNT = (
    "SELECT count(*) FROM (SELECT rowid FROM provisioning_auditsearch"
    " WHERE provisioning_auditsearch MATCH %s LIMIT %s)"
)
# The team's rows that contain it. CROSS JOIN makes SQLite read the index's matches first
# and check each one's team, rather than walk the team's whole log testing each row.
SQLITE_MATCHES = (
    "SELECT provisioning_auditsearch.rowid FROM provisioning_auditsearch"
    " CROSS JOIN provisioning_auditevent ON provisioning_auditevent.id = provisioning_auditsearch.rowid"
    " WHERE provisioning_auditsearch MATCH %s AND provisioning_auditevent.team_id = %s"
)


WORD = re.compile(r"[^\W_]+")  # a run of letters and digits


def index_part(text):
    """The part of the searched text to look up in the trigram index; the rows it finds are
    then checked against the whole text.

    A trigram index is fast for trigrams few ids share and slow for those nearly all of
    them share ("dev", "-00", the namespace): it reads every id's entry for each. In
    device ids the rare part is the serial, so the word with the most digits is looked
    up (after the colon, when there is one: the namespace is shared too). Text with no
    word of three characters or more with a digit is looked up whole.
    """
    name = text.partition(":")[2] or text
    words = [w for w in WORD.findall(name) if len(w) >= TRIGRAM and any(c.isdigit() for c in w)]
    if not words:
        return text
    return max(words, key=lambda word: (sum(c.isdigit() for c in word), len(word)))


def search_matches(team, text):
    """The team's rows that may contain ``text``, as a subquery of SQLite's trigram index:
    those containing its index_part, else (too many of those) the whole text. None when
    that is not the fast way: more than SEARCH_LIMIT rows contain it (walking the log
    newest first then finds a page sooner), or the database is PostgreSQL, whose planner
    makes the same choice itself from its statistics of the pg_trgm index. ``text`` has
    TRIGRAM characters or more (HistoryFilter refuses less)."""
    if connection.vendor != "sqlite":
        return None
    for looked_up in dict.fromkeys([index_part(text), text]):
        phrase = '"' + looked_up.replace('"', '""') + '"'  # one FTS5 string: the text as typed
        with connection.cursor() as cursor:
            cursor.execute(SQLITE_COUNT, [phrase, SEARCH_LIMIT + 1])
            if cursor.fetchone()[0] <= SEARCH_LIMIT:
                return RawSQL(SQLITE_MATCHES, [phrase, team.pk])  # noqa: S611 - constant SQL, values as parameters
    return None


def containing(rows, text):
    """Rows whose target contains ``text`` in any case.

    On PostgreSQL, LOWER(target) LIKE '%part%' is what its trigram index is built on, for
    the index_part; UPPER(target) LIKE '%TEXT%' (Django's icontains) checks each row found
    against the whole text, and is not an expression of the index, so the planner does
    not look up the whole text's common trigrams too. Elsewhere, icontains alone (SQLite
    has read its own index in search_matches).
    """
    if connection.vendor != "postgresql":
        return rows.filter(target__icontains=text)
    part = index_part(text)
    rows = rows.alias(target_lower=Lower("target")).filter(target_lower__contains=part.lower())
    # Only when it differs: the planner multiplies the two conditions' selectivities, and
    # would take a text many rows have for one few have (and read them all by the index).
    return rows.filter(target__icontains=text) if part != text else rows
