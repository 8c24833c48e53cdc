from __future__ import annotations

import datetime as dt

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
