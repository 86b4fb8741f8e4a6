"""Production settings for `gunicorn wsgi:app` (gunicorn reads ./gunicorn.conf.py).

One worker process per core, each with a few threads: a thread waiting on PostgreSQL
lets another one run, and threaded workers keep HTTP connections alive, so an
enforcer sending decision after decision does not pay a TCP handshake each time (sync
workers close the connection after every answer). More processes than cores only
add context switches. `WEB_CONCURRENCY` overrides the worker count.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "gthread"
threads = 4
keepalive = 5  # seconds an idle connection stays open
