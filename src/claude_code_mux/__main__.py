"""``python -m claude_code_mux`` runs the ``ccm`` command line."""

from claude_code_mux.cli.main import main

raise SystemExit(main())
