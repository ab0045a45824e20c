"""claude-code-mux: a fast, lossless router for Claude Code."""

__version__ = "0.1.0"
