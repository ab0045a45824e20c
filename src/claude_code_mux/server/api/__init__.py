"""The client-facing API: ``/v1/messages``, ``count_tokens``, ``/v1/chat/completions`` (plain ASGI, :mod:`.hot`),
``/v1/models`` and the ``/v1/*`` passthrough (Starlette, :mod:`.routes`), with body reading, limits and the
browser-security policy they share."""
