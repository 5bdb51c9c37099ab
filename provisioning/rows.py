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


def _statement(model, connection):
    key = (model, connection.vendor)
    if key not in _statements:
        quote = connection.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if not (f.primary_key and f.auto_created)]
        columns = ", ".join(quote(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
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
