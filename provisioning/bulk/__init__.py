"""Bulk provisioning: a CSV upload becomes a job whose rows a background worker sends.

Modules, in the order a job meets them:

- ``intake``: reads the CSV (streamed), validates every row with the device builder's
  own DeviceForm, and stores the rows of a draft job (the dry run the operator confirms).
- ``jobs``: what views and commands do to a job (start, cancel, resume, retry unknown
  rows, downloads, purging secrets, finding stalled jobs), each with its audit row.
- ``executor``: runs one job: a lease so one executor at a time, rows claimed before
  they are sent, a bounded pool of sending threads, pauses on 429/503, crash recovery.
- ``tasks``: the django-tasks entry points the ``db_worker`` runs.
- ``views``/``urls``: the upload, preview, progress and results pages.
"""
