"""Plain INSERTs of model instances: one fixed statement, one executemany.

``QuerySet.bulk_create`` compiles its statement again on every call, which costs
about as much CPU as building the rows: for the audit rows of a bulk job (an
intent and an outcome per device, a few at a time) that was a sixth of the
worker's CPU. ``insert`` writes the same values (each field's ``pre_save`` and
``get_db_prep_save``, as the ORM does) with a statement built once per model and
database vendor. It does not set primary keys on the instances, and sends no
signals; use it only for models that need neither.
"""

from contextlib import nullcontext

from django.db import connections, transaction

_statements = {}


def quoted(model, *names, using="default"):
    """The model's table and the named fields' columns, quoted for the database (for
    statements written by hand; only these names are formatted in, values are parameters)."""
    quote = connections[using].ops.quote_name
    meta = model._meta
    return quote(meta.db_table), [quote(meta.get_field(name).column) for name in names]


def db_value(model, name, value, using="default"):
    """``value`` as the field ``name`` of ``model`` sends it to the database."""
    return model._meta.get_field(name).get_db_prep_save(value, connections[using])


def _statement(model, connection):
    """``(head, row, fields)``: ``head + row`` inserts one row, ``head`` and several rows many."""
    key = (model, connection.vendor)
    if key not in _statements:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
        table, columns = quoted(model, *(field.name for field in fields), using=connection.alias)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
        _statements[key] = head, "(" + ", ".join(["%s"] * len(fields)) + ")", fields
    return _statements[key]


def _values(obj, fields, connection):
    """What the ORM would send for ``obj``'s fields: each one's ``pre_save``, then its db value."""
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def insert(objects, using="default"):
    """INSERT ``objects`` (instances of one model) in one executemany."""
    if not objects:
        return
    connection = connections[using]
    head, row, fields = _statement(type(objects[0]), connection)
    with connection.cursor() as cursor:
        cursor.executemany(head + row, [_values(obj, fields, connection) for obj in objects])


def write(groups, delete=None, using="default"):
    """INSERT every list of ``groups`` and, when given, DELETE the rows of ``delete``
    (``(model, field name, values)``: those whose field is one of the values), all or nothing.

    On PostgreSQL this is one statement, the inserts and the delete as data-modifying
    ``WITH`` parts: a single statement is atomic by itself, so it needs no BEGIN and
    COMMIT, one round trip where a transaction needs four. Inside a caller's
    transaction it runs in a savepoint. Elsewhere (SQLite, where round trips cost nothing) it is a
    transaction with one executemany per list.
    """
    groups = [objects for objects in groups if objects]
    connection = connections[using]
    if connection.vendor != "postgresql":
        with transaction.atomic(using=using):
            for objects in groups:
                insert(objects, using=using)
            if delete is not None:
                model, name, values = delete
                model._default_manager.using(using).filter(**{f"{name}__in": values}).delete()
        return
    parts, params = [], []
    for objects in groups:
        head, row, fields = _statement(type(objects[0]), connection)
        parts.append(head + ", ".join([row] * len(objects)))
        for obj in objects:
            params.extend(_values(obj, fields, connection))
    if delete is not None:
        model, name, values = delete
        table, (column,) = quoted(model, name, using=using)
        parts.append(f"DELETE FROM {table} WHERE {column} = ANY(%s)")  # noqa: S608
        params.append([db_value(model, name, value, using=using) for value in values])
    if not parts:
        return
    *first, last = parts
    sql = (
        "WITH " + ", ".join(f"w{n} AS ({part})" for n, part in enumerate(first)) + " " if first else ""
    ) + last
    # Inside a caller's transaction, a savepoint keeps a failed write from aborting it.
    with transaction.atomic(using=using) if connection.in_atomic_block else nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
