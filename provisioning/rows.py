"""Plain INSERTs of model instances: one fixed statement, one executemany.

``QuerySet.bulk_create`` compiles its statement again on every call, which costs
about as much CPU as building the rows: for the audit rows of a bulk job (an
intent and an outcome per device, a few at a time) that was a sixth of the
worker's CPU. ``insert`` writes the same values (each field's ``pre_save`` and
``get_db_prep_save``, as the ORM does) with a statement built once per model and
database vendor. It does not set primary keys on the instances, and sends no
signals; use it only for models that need neither.
"""

from django.db import connections

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
    key = (model, connection.vendor)
    if key not in _statements:
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
        table, columns = quoted(model, *(field.name for field in fields), using=connection.alias)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        _statements[key] = sql, fields
    return _statements[key]


def insert(objects, using="default"):
    """INSERT ``objects`` (instances of one model) in one executemany."""
    if not objects:
        return
    connection = connections[using]
    sql, fields = _statement(type(objects[0]), connection)
    params = [
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields] for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
