"""The dev stack: a real local Kafka broker and simulated aggregator sites."""
