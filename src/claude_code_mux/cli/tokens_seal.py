"""``ccm tokens encrypt`` / ``ccm tokens decrypt``: seal the token file at rest, or open it again.

Both read every login first (a file that cannot be read is left alone), rewrite the file atomically under the
store's lock, and read it back before reporting success, so a migration never loses a login.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from claude_code_mux.auth.store import TOKEN_FILE_NAME, FileStore, default_home
from claude_code_mux.errors import OAuthError


def register_sealing(
    tokens_sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    enc = tokens_sub.add_parser(
        "encrypt",
        parents=[common],
        help="seal oauth_tokens.json with a key in the OS keyring or a 0600 key file",
    )
    where = enc.add_mutually_exclusive_group()
    where.add_argument("--keyring", dest="source", action="store_const", const="keyring", help="key in the OS keyring")
    where.add_argument(
        "--keyfile", dest="source", action="store_const", const="keyfile", help="key in oauth_tokens.key (default)"
    )
    enc.set_defaults(func=cmd_tokens_encrypt, source="keyfile")
    dec = tokens_sub.add_parser("decrypt", parents=[common], help="write oauth_tokens.json back as plain JSON")
    dec.set_defaults(func=cmd_tokens_decrypt)


def _store(args: argparse.Namespace) -> FileStore:
    home = getattr(args, "home", None)
    return FileStore((Path(home) if home else default_home()) / TOKEN_FILE_NAME)


def _reseal(args: argparse.Namespace, source: str | None) -> int:
    store = _store(args)
    if not store.path.exists():
        print(f"error: no token file at {store.path} (log in first: ccm login)", file=sys.stderr)
        return 1
    try:
        before = store.sealed_as()
        n = asyncio.run(store.reseal(source))
    except OAuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    what = f"sealed with the {source}" if source else "plain JSON"
    was = f"sealed with the {before}" if before else "plain JSON"
    print(f"{store.path}: {n} login(s) kept; was {was}, now {what}")
    if source == "keyfile":
        print(f"key: {store.path.with_name(store.path.stem + '.key')} (0600) — back it up with the token file")
    want = source or "none"
    print(f'set [oauth] store_encryption = "{want}" so new token files are written the same way')
    return 0


def cmd_tokens_encrypt(args: argparse.Namespace) -> int:
    return _reseal(args, str(args.source))


def cmd_tokens_decrypt(args: argparse.Namespace) -> int:
    return _reseal(args, None)
