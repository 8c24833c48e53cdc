from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.pki import CA, NOW


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture(scope="session")
def root() -> CA:
    return CA.root("Test Root CA")


@pytest.fixture(scope="session")
def issuing(root: CA) -> CA:
    return root.intermediate("Test Issuing CA")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process for the test's duration, with fake credentials in the environment (so no
    test can reach a real AWS endpoint or pick up a real profile)."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield
