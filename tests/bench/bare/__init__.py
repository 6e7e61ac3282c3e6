"""The bare floor of `make bench` (tests/bench/run.py, scenarios `bare_insert` and `bare_read`): the
smallest Django + DRF app that does what the API's baselines do, on the same Django, DRF, psycopg
pool, gunicorn command line and PostgreSQL server, with none of Clearhouse (no authentication, no
throttle, no idempotency, one middleware). Served from its own database; never collected by pytest
(no test modules here) and never installed in the project's settings."""
