"""Wire formats: SSE framing and the TypedDicts of the APIs we speak."""
