"""The worker: jobs that outlive a request, run from the outbox (db.outbox) on a SAQ queue
in the state Redis. `python -m app.jobs` runs one (make worker)."""
