"""Shared fixtures.  Qt runs offscreen unless told otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from daq.pipette import Barrel, Pipette


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--ni-device", default=None, help="run the opt-in tests on this real NI device (e.g. Dev1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--ni-device"):
        return
    skip = pytest.mark.skip(reason="needs a real NI board: pass --ni-device DevN")
    for item in items:
        if "ni_hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pipette() -> Pipette:
    """Glutamate (anion), GABA (cation), an NaCl control and the balance barrel."""
    return Pipette(
        max_total_nA=300,
        barrels=(
            Barrel(name="glu", drug="glutamate", polarity=-1, retain_nA=15, max_eject_nA=150,
                   command_gain_nA_per_V=100, ao_channel="x/ao0"),
            Barrel(name="gaba", drug="GABA", polarity=+1, retain_nA=10, max_eject_nA=100,
                   command_gain_nA_per_V=100, ao_channel="x/ao1"),
            Barrel(name="nacl", drug="NaCl", role="control", max_eject_nA=100,
                   command_gain_nA_per_V=100, ao_channel="x/ao2"),
            Barrel(name="bal", drug="NaCl", role="balance", max_eject_nA=300,
                   command_gain_nA_per_V=100, ao_channel="x/ao3"),
        ),
    )
