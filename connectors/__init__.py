"""The connectors: one package per ERP, and `store/`."""


def register() -> None:
    """Register every connector of this package with `bridge.registry`. The composition
    root (`launcher`) and the tests call it once, at start-up, before any engine is built.

    For now the registry still finds the connectors by itself (it imports them by name),
    so there is nothing to do here yet; the connector kit fills this in."""
