"""Clinic configuration: one YAML file, validated; secrets come from the environment instead."""

from bot.config.loader import ConfigError, load_config
from bot.config.models import ClinicConfig

__all__ = ["ClinicConfig", "ConfigError", "load_config"]
