"""Format translation as pure functions and sans-IO stream state machines (no sockets here).

Outbound (Claude Code -> OpenAI-dialect upstream): :mod:`.openai_request`, :mod:`.quirks`,
:mod:`.openai_response`, :mod:`.openai_stream`.  Inbound (OpenAI clients -> router):
:mod:`.inbound_openai`, :mod:`.inbound_stream`.  :mod:`.anthropic_fold` folds an Anthropic event
stream into the final message (tests and logging); :mod:`.anthropic_stream` renders a message as events.
"""
