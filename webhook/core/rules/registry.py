"""Pure: every rule in the order it runs, and every fix kind the catalogue may name.

The one table a new fix kind joins (through its family module's ``KINDS``); the catalogue loader
checks each fix's parameters with its kind's ``check``, and the rules run the kinds' handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from webhook.core.rules import FixKind, Rule, app_config, identity, mesh_ports, startup

RULES: Final[tuple[Rule, ...]] = (identity.RULE, app_config.RULE, mesh_ports.RULE, startup.RULE)

FIX_KINDS: Final[Mapping[str, FixKind]] = {
    kind.name: kind for family in (app_config, mesh_ports, startup) for kind in family.KINDS
}
