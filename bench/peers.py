"""Peers the benchmark can put in the same table: LiteLLM's proxy and claude-code-router, as installed by
``bench/install_peers.sh`` (its own prefix, never the project's venv; CI does not install them).

Each peer is configured like the router: Claude's model name goes to the mock's Anthropic route unchanged
(passthrough) and ``bench-openai`` to its OpenAI Chat Completions route (translation). Facts from the shared
harness that carry over: LiteLLM fetches remote JSON at start-up unless its ``LITELLM_LOCAL_*`` switches are
on, wants its master key as the client's key, and sends ``/v1/messages`` for an ``openai/`` model to the
Responses API unless ``use_chat_completions_url_for_anthropic_messages`` is set (the mock, like most
OpenAI-compatible vendors, serves Chat Completions); claude-code-router reads ``~/.claude-code-router/config.json``
(so it gets a HOME of its own), takes ``"provider,model"`` as a model name, and needs its ``Anthropic``
transformer to pass Anthropic requests through.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.body import MODEL

NAMES = ("litellm", "claude-code-router")
KEY = "sk-ant-bench-mock"  # the key the load generator sends (HEADERS)
INSTALL = "bench/install_peers.sh"


def prefix() -> Path:
    return Path(os.environ.get("CCM_BENCH_PEERS") or Path.home() / ".cache" / "ccm-bench-peers")


@dataclass
class Target:
    """Something the load can go through: the router or a peer."""

    name: str
    cmd: list[str]
    port: int
    models: dict[str, str]  # path ("passthrough" | "translated") -> model name in the request
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/messages"


def missing(name: str) -> str | None:
    """Why peer ``name`` cannot run here (with how to install it), or None."""
    exe = _litellm() if name == "litellm" else _ccr_cli()
    if name not in NAMES:
        return f"unknown peer {name!r} (known: {', '.join(NAMES)})"
    if not exe.exists():
        return f"{exe} not found; install the peers with `{INSTALL}` (or set CCM_BENCH_PEERS to their prefix)"
    if name == "claude-code-router" and not _which("node"):
        return "node not found (claude-code-router needs Node.js >= 18)"
    return None


def _which(prog: str) -> bool:
    return any((Path(d) / prog).exists() for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def _litellm() -> Path:
    return prefix() / "litellm" / "bin" / "litellm"


def _ccr_cli() -> Path:
    return prefix() / "ccr" / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"


def peer(name: str, work: Path, port: int, upstream: int, translated_model: str) -> Target:
    mock = f"http://127.0.0.1:{upstream}"
    if name == "litellm":
        cfg = work / "litellm.yaml"
        cfg.write_text(
            f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: anthropic/{MODEL}
      api_base: {mock}
      api_key: sk-mock-upstream
  - model_name: {translated_model}
    litellm_params:
      model: openai/gpt-bench
      api_base: {mock}/v1
      api_key: sk-mock-upstream
litellm_settings:
  telemetry: false
  drop_params: true
  use_chat_completions_url_for_anthropic_messages: true
general_settings:
  master_key: {KEY}
"""
        )
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOCAL_BLOG_POSTS": "True",
            "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
            "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
            "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
            "LITELLM_LOG": "ERROR",
        }
        cmd = [str(_litellm()), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
        models = {"passthrough": MODEL, "translated": translated_model}
        return Target(name, cmd, port, models, env, {"authorization": f"Bearer {KEY}"})
    home = work / "ccr-home"
    (home / ".claude-code-router").mkdir(parents=True, exist_ok=True)
    providers = [
        {
            "name": "mock-anthropic",
            "api_base_url": f"{mock}/v1/messages",
            "api_key": "sk-mock-upstream",
            "models": [MODEL],
            "transformer": {"use": ["Anthropic"]},
        },
        {
            "name": "mock-openai",
            "api_base_url": f"{mock}/v1/chat/completions",
            "api_key": "sk-mock-upstream",
            "models": ["gpt-bench"],
        },
    ]
    route = f"mock-anthropic,{MODEL}"
    cfg_doc = {
        "HOST": "127.0.0.1",
        "PORT": port,
        "LOG": False,
        "LOG_LEVEL": "error",
        "API_TIMEOUT_MS": 600000,
        "NON_INTERACTIVE_MODE": True,
        "Providers": providers,
        "Router": {"default": route, "background": route, "think": route, "longContext": route},
    }
    (home / ".claude-code-router" / "config.json").write_text(json.dumps(cfg_doc, indent=2))
    models = {"passthrough": MODEL, "translated": "mock-openai,gpt-bench"}
    return Target(name, ["node", str(_ccr_cli()), "start"], port, models, {"HOME": str(home)})
