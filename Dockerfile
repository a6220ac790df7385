# Réactif for production: web (gunicorn), worker and beat all run this image
# (docker-compose.yml picks the command). Pinned, hash-checked dependencies.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REACTIF_VAR_DIR=/app/var

WORKDIR /app

# Never root at run time: a process that handles customer text owns nothing
# but its scratch directory.
RUN groupadd --system --gid 10001 reactif \
    && useradd --system --uid 10001 --gid reactif --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin reactif

COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY --chown=reactif:reactif . .

# Static files are collected (hashed names, compressed) into the image: the
# running containers never write them. Settings import needs a secret and a
# scratch directory, neither of which is kept.
RUN DEBUG=0 REACTIF_VAR_DIR=/tmp/collect \
    SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/collect \
    && mkdir -p /app/var && chown reactif:reactif /app/var

USER reactif
EXPOSE 8000

# Workers from WEB_CONCURRENCY (gunicorn reads it); logs to stdout; the proxy
# in front terminates TLS and sets X-Forwarded-Proto.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--threads", "4", \
     "--access-logfile", "-", "--forwarded-allow-ips", "*", "--graceful-timeout", "20"]
