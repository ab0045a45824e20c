"""Budgets: spend limits on a key, a project or a session, checked before a request and settled after.

:mod:`.periods` (UTC day/week/month boundaries), :mod:`.ledger` (where spend is read and added: the SQLite
usage store today, behind a protocol a PostgreSQL or Redis ledger can implement) and :mod:`.engine`
(allow / block / downgrade).
"""
