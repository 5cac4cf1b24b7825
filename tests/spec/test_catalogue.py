"""The language's catalogues agree with what the compiler and runtime implement."""

from mixc.compiler.devices import DEVICES as DEVICE_TABLE
from mixc.compiler.mixture.design import METHODS
from mixc.compiler.mixture.laws import NAMES
from mixc.shape import default_ffn_hidden
from mixc.spec.check import default_d_ff
from mixc.spec.experiment import DESIGNS, DEVICES, LAWS


def test_laws_designs_devices_match():
    assert set(LAWS) == set(NAMES)
    assert set(DESIGNS) == set(METHODS)
    assert set(DEVICES) == set(DEVICE_TABLE)


def test_default_ffn_width_matches_runtime():
    assert all(default_d_ff(d) == default_ffn_hidden(d) for d in range(1, 4097))
