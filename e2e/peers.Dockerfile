# syntax=docker/dockerfile:1
# Test peers for the kind e2e suite: the project's Phase-protocol server and moto STS,
# started by `python -m support.peers.serve`. Not a product image.
# Build from the repository root: docker build -f e2e/peers.Dockerfile -t external-identity-peers:e2e .
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app

# The operator's pinned runtime dependencies, then the project with its test extras
# (moto[server], trustme, ...), which the peers import.
COPY requirements.lock pyproject.toml README.md ./
COPY operator/ ./operator/
# The test extras are not locked (a throwaway test image); the runtime ones are.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-deps -r requirements.lock \
    && pip install --no-cache-dir ".[test]"

COPY support/__init__.py ./support/__init__.py
COPY support/peers/ ./support/peers/

USER 10001:10001
EXPOSE 8000 5000
ENTRYPOINT ["python", "-m", "support.peers.serve"]
