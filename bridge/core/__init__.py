"""The core: message model, dedup and correlation rules. No I/O here."""
