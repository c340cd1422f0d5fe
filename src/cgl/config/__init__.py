"""Configuration: the typed schema, its range checks, the preflight before a sweep, ConfigError."""
