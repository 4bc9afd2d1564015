"""Shared fixtures. The real peers live in tests/support/ and are loaded as plugins.

A fixture that needs Kafka, Java, node or npm packages raises when they are missing:
the suite never skips a real peer.
"""

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.smsc_peer",
    "tests.support.http_sites",
]
