"""Incremental ``Content-Encoding`` decoders (gzip, deflate, br, zstd) for upstream bodies, bounded in output.

The lean client asks for ``Accept-Encoding: identity``; an upstream that encodes anyway is decoded here, so the
bytes we relay always match the headers we relay. A decoder refuses to produce more than ``limit`` bytes in all
(a compression bomb fails the attempt as a :class:`~claude_code_mux.errors.RemoteProtocolError`).
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

from claude_code_mux.errors import RemoteProtocolError


class Decoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Bounded:
    """Counts decoded bytes against the limit."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.left = limit

    def _count(self, out: bytes) -> bytes:
        self.left -= len(out)
        if self.left < 0:
            raise RemoteProtocolError(f"{self.encoding}-decoded upstream body over the limit")
        return out

    def _bad(self, exc: Exception) -> RemoteProtocolError:
        return RemoteProtocolError(f"upstream body is not valid {self.encoding}: {exc}")


class _Zlib(_Bounded):
    def __init__(self, encoding: str, limit: int) -> None:
        super().__init__(encoding, limit)
        # gzip: wbits 16+; deflate: zlib-wrapped (RFC 9110), with raw deflate tried when the header is absent.
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        self._first = encoding == "deflate"

    def feed(self, data: bytes) -> bytes:
        try:
            if self._first:
                self._first = False
                try:
                    return self._count(self._d.decompress(data, self.left + 1))
                except zlib.error:
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._d.decompress(data, self.left + 1)
        except zlib.error as e:
            raise self._bad(e) from None
        if self._d.unconsumed_tail:  # more output than the limit allows
            raise RemoteProtocolError(f"{self.encoding}-decoded upstream body over the limit")
        return self._count(out)

    def flush(self) -> bytes:
        try:
            return self._count(self._d.flush())
        except zlib.error as e:
            raise self._bad(e) from None


class _Brotli(_Bounded):
    def __init__(self, limit: int) -> None:
        super().__init__("br", limit)
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._d.process(data, output_buffer_limit=self.left + 1)
        except brotli.error as e:
            raise self._bad(e) from None
        if not self._d.can_accept_more_data():  # the output limit was reached with input left
            raise RemoteProtocolError("br-decoded upstream body over the limit")
        return self._count(out)

    def flush(self) -> bytes:
        return b""


class _Zstd(_Bounded):
    def __init__(self, limit: int) -> None:
        super().__init__("zstd", limit)
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        try:
            return self._count(self._d.decompress(data))
        except zstandard.ZstdError as e:
            raise self._bad(e) from None

    def flush(self) -> bytes:
        return b""


def decoder_for(encoding: str, limit: int) -> Decoder:
    """A decoder for one ``Content-Encoding`` value; RemoteProtocolError for anything else (or a chain)."""
    enc = encoding.strip().lower()
    if enc in ("gzip", "x-gzip"):
        return _Zlib("gzip", limit)
    if enc == "deflate":
        return _Zlib("deflate", limit)
    if enc == "br":
        return _Brotli(limit)
    if enc == "zstd":
        return _Zstd(limit)
    raise RemoteProtocolError(f"upstream sent an unsupported content-encoding {encoding[:40]!r}")
