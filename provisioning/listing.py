"""What history and the Devices page list the same way: keyset pages, bounded counts, the
filters in use as chips, and the shareable address of a filtered list."""

import base64
from datetime import UTC, datetime

from django.db.models import Q
from django.http import QueryDict

PAGE_SIZE = 50
# Matches are counted exactly up to this; beyond, "more than". Counting is most of the time
# a rare filter takes (it walks the rows until it has found them), so it stays small.
COUNT_LIMIT = 500


class Keyset:
    """Pages of rows in newest-first order of (``field``, id), a non-null time: a cursor
    names the last row of a page, and the next page starts after it, however deep."""

    def __init__(self, field):
        self.field = field

    def order(self, rows):
        return rows.order_by(f"-{self.field}", "-id")

    def encode(self, row):
        raw = f"{getattr(row, self.field).isoformat()}|{row.pk}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode(text):
        """(time, id) from a cursor, or None for anything malformed."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, pk = raw.split("|")
            when, pk = datetime.fromisoformat(when), int(pk)
        except (ValueError, UnicodeDecodeError):
            return None
        return (when if when.tzinfo else when.replace(tzinfo=UTC)), pk

    def after(self, rows, position):
        """Rows after ``position`` = (time, id) in newest-first order.

        (time, id) < (when, pk), written so that the range on the time reaches the index:
        "time < when OR (time = when AND id < pk)" alone makes SQLite walk the index from
        the newest row down to the cursor (PostgreSQL filters the same way).
        """
        when, pk = position
        return rows.filter(**{f"{self.field}__lte": when}).filter(
            Q(**{f"{self.field}__lt": when}) | Q(pk__lt=pk)
        )

    def page(self, rows, cursor=None, size=PAGE_SIZE):
        """One page: rows strictly after the cursor; returns (items, next cursor or None)."""
        position = self.decode(cursor) if cursor else None
        if position:
            rows = self.after(rows, position)
        items = list(rows[: size + 1])
        has_more = len(items) > size
        items = items[:size]
        return items, (self.encode(items[-1]) if has_more and items else None)

    def page_and_count(self, rows, cursor, load):
        """(items, next cursor or None, (count, more than COUNT_LIMIT)): the page of ``rows``
        after ``cursor`` (or the first) and the bounded count of them all. The ids are found
        in ``rows``; the page's rows are read by id from ``load`` (what the list shows of them).

        The first page and the count come from one query: the ids of the first
        COUNT_LIMIT + 1 rows in order (a page's, if that is more), of which the page is the
        first PAGE_SIZE. A search that must read and sort every match then does so once,
        not once for the page and again for the count. A later page is counted apart."""
        position = self.decode(cursor) if cursor else None
        listed = self.after(rows, position) if position else rows
        limit = PAGE_SIZE if position else max(COUNT_LIMIT, PAGE_SIZE)
        ids = list(self.order(listed).values_list("pk", flat=True)[: limit + 1])
        items = list(self.order(load.filter(pk__in=ids[:PAGE_SIZE])))
        next_cursor = self.encode(items[-1]) if len(ids) > PAGE_SIZE and items else None
        if position:
            return items, next_cursor, count_matches(rows)
        return items, next_cursor, (min(len(ids), COUNT_LIMIT), len(ids) > COUNT_LIMIT)


def count_matches(rows):
    """(how many rows match, True when there are more than COUNT_LIMIT): a bounded count."""
    found = rows.order_by()[: COUNT_LIMIT + 1].count()
    return min(found, COUNT_LIMIT), found > COUNT_LIMIT


def active_filters(filters, query):
    """The filters in use, each as {label, value, without}: its field's label, the value as the
    page shows it, and the query string of the same list without it (the chip's link)."""
    chips = []
    data = filters.cleaned_data if filters.is_valid() else {}
    for name in filters.fields:
        raw = query.get(name)
        if not raw:
            continue
        field = filters.fields[name]
        value = data.get(name)
        if hasattr(field, "queryset") and value is not None:
            shown = field.label_from_instance(value)
        elif getattr(field, "choices", None) and value:
            shown = dict(field.choices).get(value, raw)
        else:
            shown = raw
        rest = query.copy()
        rest.pop(name, None)
        rest.pop("after", None)
        chips.append({"label": filters[name].label, "value": shown, "without": rest.urlencode()})
    return chips


def shown_query(request):
    """(the request's query without its empty values, the address to share, True when a
    plain request should be redirected there). A filter form sends every field, empty or
    not; the address keeps only the set ones."""
    shown = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        if any(values):
            shown.setlist(key, [value for value in values if value])
    address = f"{request.path}?{shown.urlencode()}" if shown else request.path
    return shown, address, dict(shown.lists()) != dict(request.GET.lists()) and not request.htmx
