import pytest

from tests.helpers.paths import ROOT


@pytest.fixture
def north_star() -> str:
    return (ROOT / "tests/spec/data/north_star.mix").read_text()
