"""gunicorn's settings for the City IOC web process: ``gunicorn app:server`` from the repository
root reads this file (``-c gunicorn.conf.py`` says so explicitly; bench/load.py does).

Two workers, each with a few threads: a screen's change check (an answer with nothing in it when
the counters are the ones it saw) is not kept waiting behind another screen's redraw, and the
threads of one worker share its per-version answers (layouts/shared.py). CPU work still takes
the GIL in turn, so more threads than this buys nothing on a small machine.
"""

workers = 2
worker_class = "gthread"
threads = 4
timeout = 60
