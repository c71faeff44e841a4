"""Reading a settings object from environment variables and explicit options.

The worker and the CRM sink read their settings the same way: defaults,
then one environment variable per field (KAFKA_BOOTSTRAP standing in for
the bootstrap variable), then options given on the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

BOOTSTRAP_FALLBACK_ENV = "KAFKA_BOOTSTRAP"


def settings_values(
    env: Mapping[str, str],
    variables: Mapping[str, str],
    convert: Callable[[str, str, str], Any],
    overrides: Mapping[str, Any],
    keep_blank: Collection[str] = (),
) -> dict[str, Any]:
    """Field values from `env` (field -> variable in `variables`), each
    converted by `convert(name, raw, variable)`, with non-None `overrides`
    on top. A blank variable counts as unset unless its field is in
    `keep_blank`."""
    values: dict[str, Any] = {}
    for name, var in variables.items():
        raw = env.get(var)
        if raw is None and name == "bootstrap":
            raw = env.get(BOOTSTRAP_FALLBACK_ENV)
        if raw is not None and (raw.strip() != "" or name in keep_blank):
            values[name] = convert(name, raw.strip(), var)
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
    return values
