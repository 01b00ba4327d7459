# registry-sync. Three stages:
#   build    installs the locked dependencies (requirements/image.txt: exact
#            versions with their hashes, binary wheels only: no compiler) and the
#            project's wheel into a virtualenv at /opt/registry-sync that has no
#            pip or setuptools of its own;
#   standin  the local SageMaker stand-in used by deploy/compose.yaml (not for production);
#   runtime  (the default target) the slim Python base plus that virtualenv, nothing else:
#            no build tools, no sources. Runs as UID 10001 and writes nothing to its
#            filesystem, so it runs with a read-only root.
#
#   docker build -t registry-sync:0.1.0 .
#   docker run --rm -e SYNCER_DATABASE_URL=postgresql://... -e AWS_REGION=... registry-sync:0.1.0
#
# Every stage starts from BASE_IMAGE: pin it by digest, or name a mirror, e.g.
#   docker build --build-arg BASE_IMAGE=python:3.11-slim@sha256:<digest> .
#   docker build --build-arg BASE_IMAGE=registry.example.com/python:3.11-slim .
# podman and buildah keep the HEALTHCHECKs only with `--format docker`.

ARG BASE_IMAGE=python:3.11-slim

# ------------------------------------------------------------------ build
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The virtualenv has no pip or setuptools of its own (--without-pip): the build
# stage's pip installs into it, each dependency at the version and hash that
# requirements/image.txt locks (make lock regenerates it from pyproject.toml).
COPY requirements/ requirements/
RUN python -m venv --without-pip /opt/registry-sync \
 && python -m pip --python /opt/registry-sync/bin/python install \
        --require-hashes --no-deps --only-binary=:all: --compile -r requirements/image.txt \
 && python -m pip install --require-hashes --no-deps --only-binary=:all: -r requirements/build.txt
# The project's wheel, built with the locked build backend (no isolated build
# environment fetching an unpinned one), is what ships.
COPY pyproject.toml README.md ./
COPY migrations/ migrations/
COPY syncer/ syncer/
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python -m pip --python /opt/registry-sync/bin/python install \
        --no-deps --compile /wheels/registry_sync-*.whl

# ------------------------------------------------------------------ standin
# `python -m standin`: a seeded SageMaker stand-in (AWS JSON 1.1 + STS) for
# trying the service out with deploy/compose.yaml. It needs only aiohttp, which
# the service's virtualenv already has.
FROM ${BASE_IMAGE} AS standin
COPY --from=build /opt/registry-sync /opt/registry-sync
COPY standin/__init__.py standin/__main__.py standin/sagemaker.py /opt/standin/standin/
ENV PATH=/opt/registry-sync/bin:$PATH \
    PYTHONPATH=/opt/standin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 5000
# Probes the port the stand-in was started with (its --port), whatever CMD says.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-m", "standin", "--probe"]
ENTRYPOINT ["python", "-m", "standin"]
CMD ["--host", "0.0.0.0", "--port", "5000"]

# ------------------------------------------------------------------ runtime
FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="registry-sync" \
      org.opencontainers.image.description="Mirrors the Amazon SageMaker Model Registry into PostgreSQL" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/registry-sync" \
      org.opencontainers.image.documentation="https://github.com/example/registry-sync/blob/main/docs/index.md"
# The base image's own pip stays in its layer (removing it in a later layer would
# not make the image smaller); the service's virtualenv cannot import it.
RUN groupadd --system --gid 10001 syncer \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin syncer
COPY --from=build /opt/registry-sync /opt/registry-sync
# Bytecode was compiled at build time; nothing is written at run time.
ENV PATH=/opt/registry-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNCER_HTTP_PORT=8080 \
    SYNCER_LOG_FORMAT=json
# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
EXPOSE 8080
# `syncer run` stops gracefully on SIGTERM (and SIGINT) within 10 seconds.
STOPSIGNAL SIGTERM
# Liveness: the sync loop is alive and not stuck (docs/operations/monitoring.md).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SYNCER_HTTP_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["syncer"]
CMD ["run"]
