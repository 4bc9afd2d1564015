"""Kafka plumbing: Avro serde, transactional partition workers, changelog-backed state."""
