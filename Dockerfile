# syntax=docker/dockerfile:1
# external-identity-operator image: the operator in a venv on python:3.11-slim, run as a
# fixed non-root UID. Build: docker build -t external-identity-operator:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: build the wheel, install the locked runtime dependencies into /opt/venv
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# The venv gets no pip of its own: the builder's pip installs into it with --python.
RUN python -m venv --without-pip /opt/venv

# Dependencies first (cached while only the source changes): exact pins, nothing else.
COPY requirements.lock ./
RUN pip --python /opt/venv/bin/python install --no-cache-dir --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
# operator/external_identity/crds links to crds/: `explain` checks objects against them.
COPY crds/ ./crds/
COPY operator/ ./operator/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /tmp/wheels/*.whl \
    && pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- runtime: the venv only, no pip, no build tools
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="external-identity-operator" \
      org.opencontainers.image.description="Keyless, short-lived Phase service tokens for Kubernetes workloads" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# No package installer in the final image; a named user for UID 10001 (getpass, logs).
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && rm -rf /root/.cache \
    && groupadd --system --gid 10001 operator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin operator

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /tmp

# 8080: kopf health endpoint (--liveness); 9090: Prometheus metrics (--metrics-port).
EXPOSE 8080 9090

ENTRYPOINT ["/opt/venv/bin/external-identity", "run"]
