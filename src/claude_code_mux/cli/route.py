"""``ccm route explain REQUEST_JSON``: print the routing decision trace for a request without sending it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from claude_code_mux.config.load import load_config
from claude_code_mux.errors import ConfigError, HttpError
from claude_code_mux.routing.explain import explain
from claude_code_mux.routing.plan import plan
from claude_code_mux.routing.rules import decide


def read_request(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """(body, lower-cased headers) from a raw request body or a recorded ``{body, headers}`` fixture."""
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError("the request JSON must be an object")
    headers: dict[str, str] = {}
    if "messages" not in data and isinstance(data.get("body"), dict):
        raw_headers = data.get("headers")
        if isinstance(raw_headers, dict):
            headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
        elif isinstance(raw_headers, list):
            headers = {str(kv[0]).lower(): str(kv[1]) for kv in raw_headers if len(kv) == 2}
        data = data["body"]
    return data, headers


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME:VALUE, got {text!r}")
    return name.strip().lower(), value.strip()


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        body, headers = read_request(Path(args.request_json))
    except (OSError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        print(f"error: {args.request_json}: {exc}", file=sys.stderr)
        return 2
    for name, value in args.header or ():
        headers[name] = value
    print(f"config: {args.config_path}")
    sys.stdout.write(explain(body, headers, cfg))
    try:
        plan(decide(body, headers, cfg), cfg)
    except HttpError:
        return 1  # the request would be rejected
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    route = sub.add_parser("route", parents=[common], help="routing tools")
    rsub = route.add_subparsers(dest="route_command", metavar="SUBCOMMAND")
    p = rsub.add_parser(
        "explain",
        parents=[common],
        help="print the routing decision trace for a request (nothing is sent)",
        description="Explain how a request would be routed: every rule, the decision, body edits and the "
        "ordered candidates. REQUEST_JSON is a Messages API body or a recorded {body, headers} fixture.",
    )
    p.add_argument("request_json", metavar="REQUEST_JSON", help="request body JSON file")
    p.add_argument(
        "--header",
        "-H",
        action="append",
        type=parse_header,
        metavar="NAME:VALUE",
        help="a request header, e.g. --header X-Provider:openrouter (repeatable)",
    )
    p.set_defaults(func=cmd_explain)
