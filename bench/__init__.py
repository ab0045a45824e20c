"""In-repo benchmark of claude-code-mux: a fast mock upstream, a closed-loop load generator, an orchestrator.

Run ``python -m bench`` (full), ``python -m bench --quick`` (a few seconds per scenario) or
``python -m bench --smoke`` (correctness only) from the repository root; ``ccm bench`` does the same.
``--groups size,deltas`` runs some scenario groups only (:mod:`bench.scenarios`); ``--peers
litellm,claude-code-router`` runs the same scenarios through those peers once ``bench/install_peers.sh`` has
installed them. ``python -m bench.micro`` times the hot-path pieces in-process; ``docs/profiling.md`` says how
to find where the time goes.
"""
