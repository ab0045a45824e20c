"""In-repo benchmark of claude-code-mux: a fast mock upstream, a closed-loop load generator, an orchestrator.

Run ``python -m bench`` (full), ``python -m bench --quick`` (a few seconds per scenario) or
``python -m bench --smoke`` (correctness only) from the repository root; ``ccm bench`` does the same.
"""
