"""Configuration: one YAML file plus environment overrides, validated at start-up."""

from bridge.config.load import ConfigError, load_config
from bridge.config.settings import BridgeConfig

__all__ = ["BridgeConfig", "ConfigError", "load_config"]
