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
from django.db.models import F, Max
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from provisioning.listing import COUNT_LIMIT, PAGE_SIZE
from provisioning.models import AuditEvent, Device

SEARCH_LIMIT = 50_000  # up to this many matches are read through SQLite's trigram index; beyond, by time
# An appended log (the audit log) is walked in time order instead when its newest WALK_MATCHES
# matches lie among its newest WALK_ROWS rows: a page and a bounded count are found sooner so
# than by reading and sorting every match (a fifth of the log, say).
WALK_MATCHES = PAGE_SIZE + COUNT_LIMIT + 1
WALK_ROWS = 20_000
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


def fts_phrase(text):
    """``text`` as one FTS5 string, matched as typed (a quote in it doubled)."""
    return '"' + text.replace('"', '""') + '"'


def index_part(text, *, word_start=False):
    """The part of the searched text to look up in the trigram index; the rows it finds are
    then checked against the whole text.

    A trigram index is fast for trigrams few ids share and slow for those nearly all of
    them share ("dev", "-00", the namespace): it reads every id's entry for each. In
    device ids the rare part is the serial, so the word with the most digits is looked
    up (after the colon, when there is one: the namespace is shared too). Text with no
    word of three characters or more with a digit is looked up whole.

    ``word_start``: a short word (one or two trigrams of its own, which thousands of ids
    share) with the character before it, when there is one. pg_trgm indexes the words of
    a text with where each begins, so "-001" finds the ids with a word that begins "001",
    where "001" alone finds every id with those digits anywhere (twice as many at ten
    million rows, each read and checked). A longer word is rare enough alone, and where
    words begin is the commonest of trigrams: reading it costs more than it saves. SQLite's
    trigrams do not know words: there "-001" only adds the trigram "-00" that every id has.
    """
    words = [
        word
        for word in WORD.finditer(text, text.find(":") + 1)
        if len(word[0]) >= TRIGRAM and any(c.isdigit() for c in word[0])
    ]
    if not words:
        return text
    best = max(words, key=lambda word: (sum(c.isdigit() for c in word[0]), len(word[0])))
    short = len(best[0]) < TRIGRAM + 2
    start = best.start() - 1 if word_start and short and best.start() > 0 else best.start()
    return text[start : best.end()]


class TrigramSearch:
    """The trigram index over ``column`` of ``model`` (rows with a ``team_id``); on SQLite
    it is the FTS5 table ``fts_table`` (external content, rowid = the row's id).

    ``appended``: rows are only ever added, in time order (the audit log), so a row's id
    tells roughly how far back in the log it is.

    The ORM cannot name a virtual table or its MATCH operator, so the SQLite queries are
    written as SQL, from these constant names, with the searched text as a parameter.
    """

    def __init__(self, *, model, column, fts_table, appended=False):
        self.model = model
        self.column = column
        self.appended = appended
        # The SQL names only these constant tables; the searched text is a parameter.
        # How many rows (of any team) contain the text, up to a limit:
        count = f"SELECT count(*) FROM (SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH %s LIMIT %s)"  # noqa: S608
        # The id of the n-th newest row (of any team) that contains it:
        nth = (
            f"SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH %s ORDER BY rowid DESC LIMIT 1 OFFSET %s"  # noqa: S608
        )
        # The rows (of any team) that contain it; team_rows keeps the team's.
        self.sqlite_count = count
        self.sqlite_nth_newest = nth
        self.sqlite_matches = f"SELECT rowid FROM {fts_table} WHERE {fts_table} MATCH %s"  # noqa: S608

    def team_rows(self, team, text):
        """The rows of ``team`` to search for ``text`` (None: no search): through
        SQLite's trigram index when that is the fast way (``matches``), else all the team's
        rows. ``containing`` then keeps those that contain ``text``.

        Through the index, SQLite reads each match's row by its id and checks its team
        there. The team is compared as ``team_id + 0``, which no index holds: with a plain
        ``team_id =`` the planner would rather walk the team's whole log (or inventory) in
        the list's order, testing each row, than fetch and sort just these."""
        found = self.matches(team, text) if text else None
        if found is None:
            return self.model.objects.filter(team_id=team.pk)
        return (
            self.model.objects.filter(pk__in=found)
            .alias(team_unindexed=F("team_id") + 0)
            .filter(team_unindexed=team.pk)
        )

    def matches(self, team, text):
        """The rows that may contain ``text``, as a subquery of SQLite's trigram index:
        those containing its index_part, else (too many of those) the whole text. None when
        that is not the fast way, and the list is better found by walking the rows in its
        own order, testing each: when more than SEARCH_LIMIT rows contain the text, or, in
        an appended log, when its newest matches are among its newest rows. None on
        PostgreSQL too, whose planner makes the same choice itself from its statistics of
        the pg_trgm index. ``text`` has TRIGRAM characters or more (SearchField refuses less)."""
        if connection.vendor != "sqlite":
            return None
        part, whole = fts_phrase(index_part(text)), fts_phrase(text)
        # Each question stops early: counted up to a limit, or the n-th newest match read.
        if self._at_most(part, WALK_MATCHES - 1):  # few rows: reading them all is quickest
            return RawSQL(self.sqlite_matches, [part])  # noqa: S611 - constant SQL, values as parameters
        if self.appended and self._newest_matches_are_recent(whole):
            return None
        for phrase in dict.fromkeys([part, whole]):
            if self._at_most(phrase, SEARCH_LIMIT):
                return RawSQL(self.sqlite_matches, [phrase])  # noqa: S611 - constant SQL, values as parameters
        return None

    def _at_most(self, phrase, limit):
        with connection.cursor() as cursor:
            cursor.execute(self.sqlite_count, [phrase, limit + 1])
            return cursor.fetchone()[0] <= limit

    def _newest_matches_are_recent(self, phrase):
        """Whether WALK_MATCHES rows containing ``phrase`` are among the newest WALK_ROWS rows
        (ids tell, in an appended log): walking back from the newest row then reaches them
        after at most that many rows."""
        with connection.cursor() as cursor:
            cursor.execute(self.sqlite_nth_newest, [phrase, WALK_MATCHES - 1])
            nth = cursor.fetchone()
        if nth is None:  # fewer matches than that: the index finds them all at once
            return False
        return self.model.objects.aggregate(newest=Max("pk"))["newest"] - nth[0] <= WALK_ROWS

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
        part = index_part(text, word_start=True)
        rows = rows.alias(searched_lower=Lower(self.column)).filter(searched_lower__contains=part.lower())
        # Only when it differs: the planner multiplies the two conditions' selectivities, and
        # would take a text many rows have for one few have (and read them all by the index).
        return rows.filter(**whole) if part != text else rows


AUDIT = TrigramSearch(model=AuditEvent, column="target", fts_table="provisioning_auditsearch", appended=True)
DEVICES = TrigramSearch(model=Device, column="device_id", fts_table="provisioning_devicesearch")

# History's search, by the names it has always had.
search_matches = AUDIT.matches
containing = AUDIT.containing
