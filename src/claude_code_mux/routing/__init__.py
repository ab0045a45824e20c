"""Routing: pure functions from a request and the router config to a decision and a candidate list."""
