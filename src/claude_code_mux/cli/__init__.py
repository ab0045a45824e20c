"""The ``ccm`` command line: one module per command group."""
