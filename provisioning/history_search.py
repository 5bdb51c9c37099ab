"""Search by any part of a device id, in any case, through a trigram index: history's search
(the audit log's target) and the Devices page's (the inventory's device_id), by the same rules.

Migrations build the indexes: 0013_history_search for the audit log, 0018_device_search for
the inventory; each is pg_trgm's GIN index on LOWER(column) on PostgreSQL and an FTS5
trigram table on SQLite. history.events and devices_list.devices call ``matches`` and
``containing`` of their TrigramSearch; ``search_matches`` and ``containing`` are history's.
"""

import re

from django import forms
from django.db import connection
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

SEARCH_LIMIT = 50_000  # up to this many matches are read through SQLite's trigram index; beyond, by time
TRIGRAM = 3  # a trigram index finds substrings of at least this many characters

WORD = re.compile(r"[^\W_]+")  # a run of letters and digits


class SearchField(forms.CharField):
    """The search box of history and of the Devices page: any part of a device id, three
    characters or more."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 256)
        kwargs.setdefault("label", "Device id")
        kwargs.setdefault("help_text", f"Any part of it, in any case, {TRIGRAM} characters or more.")
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"type": "search", "autocomplete": "off", "spellcheck": "false"})
        )
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if 0 < len(value) < TRIGRAM:
            # One or two characters are in most ids: they would list nearly everything, and
            # finding the few ids that have them means reading every row (no index helps).
            raise forms.ValidationError(f"Type at least {TRIGRAM} characters.")


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


class TrigramSearch:
    """The trigram index over ``column`` of ``table`` (rows with a ``team_id``); on SQLite
    it is the FTS5 table ``fts_table`` (external content, rowid = the row's id).

    The ORM cannot name a virtual table or its MATCH operator, so the two SQLite queries
    are written as SQL, from these constant names, with the searched text as a parameter.
    """

    def __init__(self, *, table, column, fts_table):
        self.column = column
        # The SQL names only these constant tables; the searched text is a parameter.
        # How many rows (of any team) contain the text, up to a limit:
        count = f"SELECT count(*) FROM (SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH %s LIMIT %s)"  # noqa: S608
        # The team's rows that contain it. CROSS JOIN makes SQLite read the index's matches
        # first and check each one's team, rather than walk the team's rows testing each one.
        found = (
            f"SELECT {fts_table}.rowid FROM {fts_table} CROSS JOIN {table} ON {table}.id = {fts_table}.rowid"  # noqa: S608
        )
        self.sqlite_count = count
        self.sqlite_matches = f"{found} WHERE {fts_table} MATCH %s AND {table}.team_id = %s"

    def matches(self, team, text):
        """The team's rows that may contain ``text``, as a subquery of SQLite's trigram index:
        those containing its index_part, else (too many of those) the whole text. None when
        that is not the fast way: more than SEARCH_LIMIT rows contain it (walking the rows
        in the list's order then finds a page sooner), or the database is PostgreSQL, whose
        planner makes the same choice itself from its statistics of the pg_trgm index.
        ``text`` has TRIGRAM characters or more (SearchField refuses less)."""
        if connection.vendor != "sqlite":
            return None
        for looked_up in dict.fromkeys([index_part(text), text]):
            phrase = '"' + looked_up.replace('"', '""') + '"'  # one FTS5 string: the text as typed
            with connection.cursor() as cursor:
                cursor.execute(self.sqlite_count, [phrase, SEARCH_LIMIT + 1])
                if cursor.fetchone()[0] <= SEARCH_LIMIT:
                    return RawSQL(self.sqlite_matches, [phrase, team.pk])  # noqa: S611 - constant SQL, values as parameters
        return None

    def containing(self, rows, text):
        """Rows whose column contains ``text`` in any case.

        On PostgreSQL, LOWER(column) LIKE '%part%' is what its trigram index is built on,
        for the index_part; UPPER(column) LIKE '%TEXT%' (Django's icontains) checks each
        row found against the whole text, and is not an expression of the index, so the
        planner does not look up the whole text's common trigrams too. Elsewhere,
        icontains alone (SQLite has read its own index in ``matches``).
        """
        whole = {f"{self.column}__icontains": text}
        if connection.vendor != "postgresql":
            return rows.filter(**whole)
        part = index_part(text)
        rows = rows.alias(searched_lower=Lower(self.column)).filter(searched_lower__contains=part.lower())
        # Only when it differs: the planner multiplies the two conditions' selectivities, and
        # would take a text many rows have for one few have (and read them all by the index).
        return rows.filter(**whole) if part != text else rows


AUDIT = TrigramSearch(table="provisioning_auditevent", column="target", fts_table="provisioning_auditsearch")
DEVICES = TrigramSearch(
    table="provisioning_device", column="device_id", fts_table="provisioning_devicesearch"
)

# History's search, by the names it has always had.
search_matches = AUDIT.matches
containing = AUDIT.containing
