"""Bulk jobs: a CSV upload becomes a job whose rows a background worker sends; devices chosen
on the Devices page (or "what this job created") become a job that de-provisions or checks them.

Modules, each importing only those above it (no cycles):

- ``models``: BulkJob, BulkRow, BulkUpload (the stored file), ColumnMapping (a team's remembered
  matching of a header's columns), the statuses, sealed secrets.
- ``csvfile``: reading the file: encoding, delimiter, header layout, records.
- ``columns``: the mapping step of a header this does not read by itself: what its names say,
  the first values of each column, the team's remembered choice for the header.
- ``events``: the job's own audit rows ("bulk.*") and who its rows are sent for.
- ``intake``: the upload request stores the file (``receive``); the worker validates
  every row with the device builder's DeviceForm into a draft (``validate``).
- ``verdicts``: what a row's attempt (one Bosch call, a Hono + Ditto plan, or a check's
  reads) means for the row and the job.
- ``lease``: who runs a job: lease, heartbeat, a dead holder, recovery of rows in flight.
- ``actions``: what a row is sent as, by the job's action: provision a CSV row, de-provision
  or check a device.
- ``executor``: runs one job: a ThreadPoolExecutor, each row sent as a single Send is.
- ``credentials``: the one-time download of generated passwords; erasing secrets; purging.
- ``tasks``: the django-tasks tasks, enqueuing them, and the sweep for dead workers.
- ``forms``: the upload form, the mapping step's form, and the bounds of a job's concurrency.
- ``selection``: the devices a de-provisioning or checking job acts on: chosen, narrowed to
  one connection and to the devices the action fits, fingerprinted for the confirmation.
- ``jobs``: state transitions the pages and commands ask for (upload, start, cancel, ...).
- ``progress``: counts, percent, rate and time left, in numbers and words.
- ``downloads``: the template CSV and the failed-rows CSV.
- ``dry_run``: the request(s) a draft's first row would make, for its preview.
- ``views``, ``urls``: the upload, its mapping step, the preview, progress and results pages.
"""
