"""smsbridge: a Kafka <-> SMS bridge (SMPP 3.4 and HTTP) for multi-site SMS aggregators."""

__version__ = "0.1.0"
