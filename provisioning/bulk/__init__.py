"""Bulk provisioning: a CSV upload becomes a job whose rows a background worker sends.

Modules, each importing only those above it (no cycles):

- ``models``: BulkJob, BulkRow, BulkUpload (the stored file), ColumnMapping (a team's remembered
  matching of a header's columns), the statuses, sealed secrets.
- ``csvfile``: reading the file: encoding, delimiter, header layout, records.
- ``columns``: the mapping step of a header this does not read by itself: what its names say,
  the first values of each column, the team's remembered choice for the header.
- ``events``: the job's own audit rows ("bulk.*") and who its rows are sent for.
- ``intake``: the upload request stores the file (``receive``); the worker validates
  every row with the device builder's DeviceForm into a draft (``validate``).
- ``verdicts``: what a row's attempt (one Bosch call, or a Hono + Ditto plan) means for the
  row and the job.
- ``lease``: who runs a job: lease, heartbeat, a dead holder, recovery of rows in flight.
- ``executor``: runs one job: a ThreadPoolExecutor, each row sent as a single Send is.
- ``credentials``: the one-time download of generated passwords; erasing secrets; purging.
- ``tasks``: the django-tasks tasks, enqueuing them, and the sweep for dead workers.
- ``jobs``: state transitions the pages and commands ask for (upload, start, cancel, ...).
- ``progress``: counts, percent, rate and time left, in numbers and words.
- ``downloads``: the template CSV and the failed-rows CSV.
- ``forms``, ``views``, ``urls``: the upload, its mapping step, the preview, progress and results pages.
"""
