"""Fixtures for the mixture tests."""

import pytest
from tests.mixture.mixture_data import make_runs


@pytest.fixture
def runs():
    return make_runs()
