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
