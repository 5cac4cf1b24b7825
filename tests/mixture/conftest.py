"""Fixtures for the mixture tests."""

import pytest

from tests.helpers.mixtures import make_runs


@pytest.fixture
def runs():
    return make_runs()
