"""Credentials for providers: PKCE login, token exchange and refresh, the token store and the TokenManager.

Modules: ``secret`` (masked values), ``pkce``, ``oauth`` (authorize URL, exchange, refresh, create_api_key),
``store`` (TokenRecord, TokenStore, FileStore, MemoryStore), ``atomic`` (0600 atomic file writes),
``tokens`` (TokenManager), ``claude_credentials`` (Claude Code import and write-back), ``login``
(pending logins and the loopback callback server), ``settings`` (reading ``[oauth]`` and env overrides).
"""
