"""Settings-form descriptions that connectors give the UI (the engine stays Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    """One settings field as the vendor's page names it. `secret` fields are keyring names
    (e.g. erp.token), never config keys."""

    name: str
    label: str
    kind: str = "text"  # text | secret | int | choice
    placeholder: str = ""
    required: bool = False
    help: str = ""
    # for `choice`: (value, label) pairs, the first one the default
    choices: tuple[tuple[str, str], ...] = ()
