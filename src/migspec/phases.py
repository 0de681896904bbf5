"""The rollout's three phases, in the order they run: expand -> migrate -> contract.

Here, apart from the plan file's model (migspec.planfile.model, which re-exports it): a recipe that
``migspec lint`` prints as a fix names its steps' phases without loading the plan file's classes
(issue 16: lint imports only what it uses)."""

from __future__ import annotations

import enum


class PhaseName(str, enum.Enum):
    EXPAND = "expand"
    MIGRATE = "migrate"
    CONTRACT = "contract"
