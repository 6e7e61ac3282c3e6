#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from django.core.management import execute_from_command_line  # noqa: PLC0415 - once the settings module is set

    if sys.argv[1:2] == ["runserver"] and (os.environ.get("RUN_MAIN") == "true" or "--noreload" in sys.argv):
        # The process that serves (the autoreloader's child), before it loads the middleware.
        from apps.core.tracing import tracing_start  # noqa: PLC0415 - once the settings module is set

        tracing_start(role="web")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
