"""gunicorn settings of the bare floor (run.py passes it with --config, so the project's
gunicorn.conf.py, with its logger and tracing hook, is not read). The command line is the app's."""
