"""NonSistemas connector: stock and prices only (one-way), incremental by modification date.

See shared/specs/erp-apis.md (section NonSistemas): everything beyond the vendor page's
fields is *assumed* and configurable in `config.NonSistemasConfig`.
"""

from __future__ import annotations

from bridge.registry import ErpSpec
from connectors.nonsistemas import client, config

SPEC = ErpSpec(
    kind="nonsistemas",
    title="NonSistemas",
    config_model=config.NonSistemasConfig,
    capabilities=client.NonSistemasClient.capabilities,
    factory=client.NonSistemasClient,
    secret_labels=config.SECRETS,
    fields=config.UI_FIELDS,
)
