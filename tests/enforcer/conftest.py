"""Enforcer fixtures: the scenario of tests/enforcer/helpers.py and a live server."""

from __future__ import annotations

import pytest

from tests.enforcer.helpers import Scenario, build_scenario


@pytest.fixture
def scenario(client, make) -> Scenario:
    return build_scenario(client, make)


