"""Upstream protocols (dialects). A vendor is a preset of a dialect, not a module."""
