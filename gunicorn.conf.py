"""Settings every Réactif web process shares: gunicorn reads ./gunicorn.conf.py
from its working directory (the image, `make run`, the benchmark, chaos and
load stacks all start it from the project's root). Flags on the command line,
and GUNICORN_CMD_ARGS, still win."""

# Idle keep-alive connections live longer than the inbox's live poll (every
# 2 s, inbox.views.LIVE_POLL_SECONDS). At gunicorn's default of 2 s the server
# closed an idle connection just as the next poll went out on it, and the
# request died as a dropped connection: 1.7 % of the agents' requests in a
# 30-minute load run. Behind a load balancer, raise it above the balancer's
# idle timeout (GUNICORN_CMD_ARGS="--keep-alive 75") for the same reason.
keepalive = 5


def post_worker_init(worker):
    """Once the worker has loaded Django: what exists now lives as long as
    the process, so the garbage collector stops scanning it. A full
    collection walked ~130,000 such objects, pausing a request now and then
    for 50-100 ms (the longest queue requests in the benchmark's process went
    from ~100 ms to ~35 ms with it frozen)."""
    import gc

    gc.collect()
    gc.freeze()
