"""Shared fixtures. The real peers live in tests/support/ and are loaded as plugins.

A fixture that needs Kafka, Java, node or npm packages raises when they are missing:
the suite never skips a real peer.
"""

# Imported here, at a shallow stack: hypothesis's plugin imports it lazily at session end,
# where CPython 3.11.7 can fail compiling it ("AST constructor recursion depth mismatch").
import hypothesis  # noqa: F401

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.smsc_peer",
    "tests.support.http_sites",
]
