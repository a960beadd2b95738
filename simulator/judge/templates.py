"""``${…}`` templates in scenarios: which names exist and the one way to fill them.

A scenario may write ``${victim.callId}``, ``${victim.accountId}`` or
``${HUMAN_AGENT_NUMBER}`` in ``call.body``, ``call.start_metadata`` and a transfer's
``target``; the runner knows the values only once the call is placed. The loader refuses
other names (:data:`TEMPLATE_NAMES`); :func:`fill_templates` substitutes the values, in
strings nested anywhere in dicts and lists. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["TEMPLATE", "TEMPLATE_NAMES", "fill_templates"]

TEMPLATE: Final = re.compile(r"\$\{([A-Za-z_.]+)\}")
TEMPLATE_NAMES: Final = frozenset({"victim.callId", "victim.accountId", "HUMAN_AGENT_NUMBER"})
"""``${…}`` names the runner fills in ``call.body``, ``call.start_metadata`` and ``target``."""


def fill_templates(value: Any, templates: Mapping[str, str]) -> Any:
    """Return ``value`` with each ``${name}`` in its strings replaced from ``templates``.

    Dicts and lists are copied with their strings filled; a name without a value is left
    as written, and other values are returned unchanged.
    """
    if isinstance(value, str):
        return TEMPLATE.sub(lambda m: templates.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {k: fill_templates(v, templates) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_templates(v, templates) for v in value]
    return value
