"""A real LiteLLM proxy for the gateway tests, in front of the suite's fake provider.

    with LiteLLMProxy(upstream=fake_server.base_url, rpm=60) as proxy:
        proxy.base_url                 # http://127.0.0.1:PORT (what an agent's api_base is)
        proxy.master_key               # the key an agent sends (api_key_env)

`litellm[proxy]`, pinned to the litellm version the project runs, is installed once into its
own virtual environment under tests/.litellm_proxy_cache (git-ignored; about a minute from
PyPI the first time). The proxy serves one alias, `team-gpt`, routed to
`openai/gpt-4o-mini` at the fake provider, with a router rpm that
`usage-based-routing-v2` enforces; it listens on a free loopback port and is stopped (by
its process id) on exit.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

CACHE = Path(__file__).resolve().parents[1] / ".litellm_proxy_cache"
ALIAS = "team-gpt"
TARGET = "openai/gpt-4o-mini"
MASTER_KEY = "sk-agentflow-proxy-test-master"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def proxy_venv() -> Path:
    """The proxy's virtual environment, installed on first use; returns its folder."""
    version = importlib.metadata.version("litellm")
    venv = CACHE / f"venv-{version}"
    litellm = venv / "bin" / "litellm"
    if litellm.exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    for _ in range(2):  # a second try when the package index stumbles once
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", f"litellm[proxy]=={version}"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )  # fmt: skip
        if done.returncode == 0 and litellm.exists():
            break
    if done.returncode != 0 or not litellm.exists():
        raise RuntimeError(f"installing litellm[proxy]=={version} failed:\n{done.stderr[-3000:]}")
    return venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiteLLMProxy:
    """The LiteLLM proxy as a child process; see the module docstring."""

    def __init__(self, upstream: str, rpm: int, folder: Path) -> None:
        self.upstream = upstream
        self.rpm = rpm
        self.folder = folder
        self.port = _free_port()
        self.master_key = MASTER_KEY
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        config = {
            "model_list": [
                {
                    "model_name": ALIAS,
                    "litellm_params": {
                        "model": TARGET,
                        "api_base": self.upstream,
                        "api_key": "sk-upstream-fake",
                        "rpm": self.rpm,
                    },
                }
            ],
            "router_settings": {"routing_strategy": "usage-based-routing-v2"},
            "general_settings": {"master_key": self.master_key},
            "litellm_settings": {"num_retries": 0, "telemetry": False},
        }
        path = self.folder / "proxy.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        return path

    def __enter__(self) -> LiteLLMProxy:
        venv = proxy_venv()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "OPENAI_"))}
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", NO_PROXY="127.0.0.1,localhost")
        log = (self.folder / "proxy.log").open("wb")
        self._process = subprocess.Popen(
            [str(venv / "bin" / "litellm"), "--config", str(self._config()),
             "--host", "127.0.0.1", "--port", str(self.port), "--num_workers", "1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.folder,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with _OPENER.open(f"{self.base_url}/health/liveliness", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.__exit__(None, None, None)
        tail = (self.folder / "proxy.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the LiteLLM proxy did not start:\n{tail}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
