# The one image of the system: every API, relay, projection group and stream worker is
# `ehr <arguments>` (helm/ehr chooses them). Build it where a container engine runs:
#   docker build -t registry.example/ehr/ehr:0.1.0 .
# tests/deploy/test_dockerfile.py checks these rules, since no engine runs in CI.

# --- build: dependencies exactly as constraints.txt pins them, compiled where needed ---------
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/ehr
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY libs ./libs
COPY services ./services
COPY cli ./cli
# the source stays in /app (package data, templates, migrations beside the code) and is
# installed in place, with every dependency pinned
RUN /opt/ehr/bin/pip install -c constraints.txt -e . \
 && /opt/ehr/bin/pip check \
 && /opt/ehr/bin/python -m compileall -q /app /opt/ehr

# --- run: no compiler, no package manager cache, a user without a home or a shell ------------
FROM python:3.11.14-slim-bookworm AS run
RUN groupadd --system --gid 10001 ehr \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin ehr
COPY --from=build /opt/ehr /opt/ehr
COPY --from=build /app /app
ENV PATH=/opt/ehr/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EHR_LOCAL_DIR=/tmp/ehr \
    EHR_LOG_JSON=true
WORKDIR /app
# the root filesystem is read-only in the cluster: /tmp is the only place written
USER 10001:10001
ENTRYPOINT ["ehr"]
CMD ["--help"]
