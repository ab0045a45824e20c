"""Who may use the router: virtual keys (``ccm keys``), the shared ``server.api_key``, and model allow-lists.

:mod:`.keystore` keeps the keys (SQLite, hashes only); :mod:`.identity` answers ``authenticate(headers)`` and
``check_model(identity, model)`` from an in-memory snapshot, so the request path never touches the disk.
"""
