"""The simulators: a Dragonfish, Acqua, NonSistemas and Salesforce Virtual Seller server and
the VentasxMayor store, each a real HTTP server on 127.0.0.1 for the tests, `bridge demo`
and the benchmarks, plus the generators that fill them (`catalog`, `ordergen`).

Each one follows shared/specs/ (erp-apis.md, store-api.md), quirks included, and imports
only `bridge`, never `connectors`: a simulator written to agree with its client would prove
nothing about that client (tests/test_boundaries_sim.py checks it). They need aiohttp, which
is the `demo` extra of the package (`pip install 'bridge[demo]'`).
"""
