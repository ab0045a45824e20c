"""In-process mock upstreams (Anthropic, OpenAI, OAuth) used by the test suite."""
