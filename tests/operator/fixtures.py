"""Fixtures for tests that run the real operator: a cluster view, an account, the process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from support.kube.server import KubeAPI
from support.operator import OperatorProcess, clean_env
from support.peers.helpers import aws_account
from support.peers.phase_model import ServiceAccount
from support.peers.phase_server import PhaseServer
from support.peers.sts_peer import StsPeer
from support.zygote import Zygote

from tests.operator.harness import Cluster


@pytest.fixture
def cluster(kube_api: KubeAPI, phase_server: PhaseServer, sts_peer: StsPeer) -> Cluster:
    return Cluster(kube_api, phase_server, sts_peer)


@pytest.fixture
def account(phase_server: PhaseServer, sts_peer: StsPeer) -> ServiceAccount:
    created, _ = aws_account(phase_server, sts_peer, max_ttl=3600)
    return created


@pytest.fixture
def operator_env(kube_api: KubeAPI, aws_env: dict[str, str]) -> dict[str, str]:
    return clean_env(aws_env, kube_api.env())


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """One process per test session that has imported the operator; each test's operator is
    forked from it (see support/zygote.py)."""
    forking = Zygote()
    yield forking
    forking.close()


@pytest.fixture
def start_operator(
    operator_env: dict[str, str], zygote: Zygote
) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> OperatorProcess:
        process = OperatorProcess(env=env or operator_env, args=args, zygote=zygote)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
        print(f"--- operator output ---\n{process.output}")  # shown only when a test fails
