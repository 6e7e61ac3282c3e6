"""`make run`'s process manager: honcho, given the time a clean stop takes.

On Ctrl-C honcho sends SIGTERM to each process's group and SIGKILL to whatever still runs five
seconds later. That is too soon for the Celery worker: on the filesystem broker its loop notices a
stop only between two-second polls (up to two of them), then stops its timer and pool, so even an
idle worker needs five to seven seconds, and one running a task needs that task's time on top.
Here honcho waits STOP_SECONDS instead; SIGKILL is left for a worker that hangs.

Usage (the Makefile's `run` target): python config/dev_processes.py [honcho arguments]
"""

from __future__ import annotations

import honcho.manager
from honcho.command import main

STOP_SECONDS = 30

if __name__ == "__main__":
    honcho.manager.KILL_WAIT = STOP_SECONDS
    main()
