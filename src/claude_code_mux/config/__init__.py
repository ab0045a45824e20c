"""Configuration: the TOML schema, loading with precise errors, presets and comment-preserving edits."""
