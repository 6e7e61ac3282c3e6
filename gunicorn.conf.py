"""gunicorn settings every gunicorn started from the project root reads (the Docker image's too)."""

# Access and error lines go through the same card-number masking as every other log line.
logger_class = "apps.core.gunicorn_logging.MaskingLogger"
