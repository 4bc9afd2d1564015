"""Configuration: one YAML file plus environment overrides, validated at start-up."""
