"""NonSistemas connector: stock and prices only (one-way), incremental by modification date.

See shared/specs/erp-apis.md (section NonSistemas): everything beyond the vendor page's
fields is *assumed* and configurable in `config.NonSistemasConfig`.
"""
