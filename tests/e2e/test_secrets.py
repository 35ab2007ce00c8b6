"""No secret in any channel, and no terminal control sequence from outside reaches a terminal.

Channels: stdout, stderr, the `--format json` document, the `-o` file, the run log, and the
requests sent to the provider (tool results). The keys here have no recognisable shape, so
only redaction by value can catch them.
"""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import RUN_TIMEOUT_S, cli_command, cli_env, of, run_cli, write_workflow
from tests.fakeserver import FakeLLMServer, Scripted

pytestmark = pytest.mark.e2e

# A provider key without the sk- shape (Azure, Bedrock, many gateways), echoed back by a 401.
PROVIDER_KEY = "org-7Hq2Lx9Vb4Nm8Kp3Rt6Wz1Qe"
# Found by name: *PASSWORD*; it needs escaping in JSON.
LEDGER_PASSWORD = 'pa"ss\\word-90210'
# Found only because `--secret-env WAREHOUSE_DSN` names it.
WAREHOUSE_DSN = "postgres://fin:Zx81Qw27Er63@db.internal/ledger"
# A credential-named variable a tool leaks in an exception, a command's stderr, an import error.
WAREHOUSE_TOKEN = "wh-9f8e7d6c5b4a3210fedcba"

ATTACK = "\x1b]0;pwned\x07\x1b[2J\x1b[31;7mRED\r\x08\x9b2J\u202eevil"
RAW_SEQUENCES = ("\x1b]0;pwned", "\x07", "\x1b[2J", "\x1b[31;7m", "\x08", "\x9b", "\u202e")


def _assert_nowhere(secret: str, channels: dict[str, str]) -> None:
    leaks = [name for name, text in channels.items() if secret in text]
    assert not leaks, f"{secret!r} leaked into {', '.join(leaks)}"


def _leaky_flow(server: FakeLLMServer) -> dict[str, Any]:
    return {
        "name": "ledger_check",
        "defaults": {"model": "openai/gpt-4o-mini", "api_base": server.base_url, "max_tokens": 50},
        "agents": {
            "answer": {"prompt": "Summarise the ledger settings."},
            "audit": {"prompt": "Audit them.", "needs": ["answer"], "critical": False},
        },
        "outputs": {"summary": "{{ agents.answer.output }}"},
    }


def _script_leaks(server: FakeLLMServer) -> None:
    # A model answer that repeats two secrets, then a 401 that echoes the key it was sent.
    server.enqueue(
        Scripted(content=f"Password {LEDGER_PASSWORD}; warehouse at {WAREHOUSE_DSN}."),
        Scripted(fail=401, message="Incorrect API key provided: {api_key}. Check your key."),
    )


def test_secret_values_reach_no_channel_text_json_output_file_and_log(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _leaky_flow(fake_server))
    env = cli_env(
        OPENAI_API_KEY=PROVIDER_KEY, LEDGER_PASSWORD=LEDGER_PASSWORD, WAREHOUSE_DSN=WAREHOUSE_DSN
    )
    secret_env = ("--secret-env", "WAREHOUSE_DSN")

    _script_leaks(fake_server)
    text = run_cli(
        flow, "-o", tmp_path / "out.json", *secret_env, cwd=tmp_path, run_id="r-text", env=env
    )
    _script_leaks(fake_server)
    as_json = run_cli(flow, "--format", "json", *secret_env, cwd=tmp_path, run_id="r-json", env=env)

    assert text.returncode == as_json.returncode == 4, text.describe() + as_json.describe()
    output_file = (tmp_path / "out.json").read_text(encoding="utf-8")
    channels = {
        "text stdout": text.stdout,
        "text stderr": text.stderr,
        "-o file": output_file,
        "text log": text.log_path.read_text(encoding="utf-8") if text.log_path else "",
        "json stdout": as_json.stdout,
        "json stderr": as_json.stderr,
        "json log": as_json.log_path.read_text(encoding="utf-8") if as_json.log_path else "",
    }
    escaped_password = json.dumps(LEDGER_PASSWORD)[1:-1]
    for secret in (PROVIDER_KEY, LEDGER_PASSWORD, escaped_password, WAREHOUSE_DSN):
        _assert_nowhere(secret, channels)
    # What was redacted is still said, and every JSON channel stays valid JSON.
    document = json.loads(as_json.stdout)
    assert "Incorrect API key provided: [REDACTED]" in as_json.stdout
    assert "Incorrect API key provided: [REDACTED]" in text.stderr
    summary = "Password [REDACTED]; warehouse at [REDACTED]."
    assert document["results"][0]["outputs"] == {"summary": summary}
    assert json.loads(output_file)[0]["outputs"] == {"summary": summary}
    assert json.loads(text.stdout) == {"summary": summary}
    assert "--secret-env WAREHOUSE_DSN" in document["rerun_command"]  # hides it again
    failed = of(as_json.events(), "agent.failed")
    assert [e["agent"] for e in failed] == ["audit"]
    assert "[REDACTED]" in failed[0]["message"]


def test_secret_env_is_accepted_by_every_command_and_warns_when_it_cannot_redact(
    tmp_path: Path,
) -> None:
    flow = write_workflow(
        tmp_path, {"name": "tiny", "agents": {"a": {"model": "openai/gpt-4o-mini", "prompt": "x"}}}
    )
    env = cli_env(SHORT_ONE="abc")
    args = ("--secret-env", "SHORT_ONE", "--secret-env", "NOT_SET_ANYWHERE")
    for command in (["validate", flow], ["plan", flow], ["graph", flow]):
        done = subprocess.run(
            cli_command(*command, *args),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        assert done.returncode == 0, done.stderr
        assert "warning: --secret-env SHORT_ONE is shorter than 8 characters" in done.stderr
        assert "warning: --secret-env NOT_SET_ANYWHERE is not set in the environment" in (
            done.stderr
        )


# -- tools ---------------------------------------------------------------------------------

RAISING_MODULE = """
import os


def lookup_invoice(invoice_id: str) -> dict:
    raise ConnectionError(
        f"warehouse refused token {os.environ['WAREHOUSE_TOKEN']} for {invoice_id}"
    )
"""

FAILING_COMMAND = f"""#!{sys.executable}
import os, sys

sys.stdin.read()
sys.stderr.write("auth failed with " + os.environ["WAREHOUSE_TOKEN"] + "\\n")
sys.exit(3)
"""

IMPORT_FAILING_MODULE = """
import os

raise ImportError("no driver\\x1b[2J; tried token " + os.environ["WAREHOUSE_TOKEN"])


def lookup_invoice(invoice_id: str) -> dict:
    return {}
"""


def _tool(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": "Look an invoice up by id.",
        "parameters": {
            "type": "object",
            "properties": {"invoice_id": {"type": "string"}},
            "required": ["invoice_id"],
        },
        **spec,
    }


def test_a_key_in_a_tool_exception_or_a_command_stderr_reaches_no_channel_nor_the_provider(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    (tmp_path / "ledger_tools.py").write_text(RAISING_MODULE, encoding="utf-8")
    script = tmp_path / "lookup.py"
    script.write_text(FAILING_COMMAND, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    flow = write_workflow(
        tmp_path,
        {
            "name": "invoices",
            "defaults": {"model": "openai/gpt-4o-mini", "api_base": fake_server.base_url},
            "tools": {
                "by_python": _tool({"python": "ledger_tools:lookup_invoice"}),
                "by_command": _tool({"command": ["./lookup.py"]}),
            },
            "agents": {
                "check": {
                    "prompt": "Look INV-0042 up. [[tools]]",
                    "tools": ["by_python", "by_command"],
                }
            },
        },
    )

    run = run_cli(
        flow, cwd=tmp_path, run_id="r-tools", env=cli_env(WAREHOUSE_TOKEN=WAREHOUSE_TOKEN)
    )

    assert run.returncode == 0, run.describe()
    results = {e["tool"]: e for e in of(run.events(), "tool.result")}
    assert not results["by_python"]["ok"] and not results["by_command"]["ok"]
    assert "warehouse refused token [REDACTED]" in results["by_python"]["output"]
    assert "auth failed with [REDACTED]" in results["by_command"]["output"]
    sent = json.dumps([r.body for r in fake_server.requests])
    assert "[REDACTED]" in sent  # the model was told what failed, without the key
    _assert_nowhere(
        WAREHOUSE_TOKEN,
        {
            "stdout": run.stdout,
            "stderr": run.stderr,
            "log": run.log_path.read_text(encoding="utf-8") if run.log_path else "",
            "requests to the provider": sent,
        },
    )


def test_a_key_in_a_tool_module_import_error_is_redacted_by_every_command_and_format(
    tmp_path: Path,
) -> None:
    (tmp_path / "ledger_tools.py").write_text(IMPORT_FAILING_MODULE, encoding="utf-8")
    flow = write_workflow(
        tmp_path,
        {
            "name": "invoices",
            "defaults": {"model": "openai/gpt-4o-mini"},
            "tools": {"by_python": _tool({"python": "ledger_tools:lookup_invoice"})},
            "agents": {"check": {"prompt": "Look INV-0042 up.", "tools": ["by_python"]}},
        },
    )
    env = cli_env(WAREHOUSE_TOKEN=WAREHOUSE_TOKEN)
    channels: dict[str, str] = {}
    for label, command in {
        "validate": ["validate", flow],
        "validate json": ["validate", flow, "--format", "json"],
        "validate github": ["validate", flow, "--format", "github"],
        "plan": ["plan", flow],
        "graph": ["graph", flow],
        "run": ["run", flow, "--mock", "--log-dir", tmp_path / "logs"],
    }.items():
        done = subprocess.run(
            cli_command(*command),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        channels[f"{label} stdout"], channels[f"{label} stderr"] = done.stdout, done.stderr
    for log in (tmp_path / "logs").glob("*.jsonl"):
        channels[f"log {log.name}"] = log.read_text(encoding="utf-8")

    _assert_nowhere(WAREHOUSE_TOKEN, channels)
    _assert_nowhere("\x1b", channels)  # the clear-screen in the message is shown, not obeyed
    # The run still says why the tool cannot be used (at load or when it is called).
    assert "no driver\\x1b[2J; tried token [REDACTED]" in channels["run stderr"], channels[
        "run stderr"
    ]
    if "no driver" in channels["validate json stdout"]:
        json.loads(channels["validate json stdout"])


# -- terminal control sequences -----------------------------------------------------------


def _control_flow(server: FakeLLMServer) -> dict[str, Any]:
    return {
        "name": "hostile_text",
        "defaults": {"model": "openai/gpt-4o-mini", "api_base": server.base_url, "max_tokens": 50},
        "agents": {
            "answer": {"prompt": "Say something."},
            "broken": {"prompt": "Again.", "needs": ["answer"], "critical": False},
        },
        "outputs": {"said": "{{ agents.answer.output }}"},
    }


def _script_attack(server: FakeLLMServer) -> None:
    server.enqueue(
        Scripted(content=f"An answer with {ATTACK} inside."),
        Scripted(fail=400, message=f"Bad request {ATTACK} end"),
    )


def _run_on_a_terminal(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; everything it drew."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal
        )
    finally:
        os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_control_sequences_from_a_provider_and_an_answer_never_reach_a_terminal_raw(
    fake_server: FakeLLMServer, tmp_path: Path
) -> None:
    flow = write_workflow(tmp_path, _control_flow(fake_server))

    _script_attack(fake_server)
    plain = run_cli(flow, cwd=tmp_path, run_id="r-plain")
    _script_attack(fake_server)
    env = cli_env(COLUMNS="120", TERM="xterm-256color")
    del env["NO_COLOR"]  # colours on: Rich's own styling must still work
    drawn = _run_on_a_terminal(
        cli_command("run", flow, "--log-dir", tmp_path / "logs", "--run-id", "r-tty"),
        tmp_path,
        env,
    )

    assert plain.returncode == 4, plain.describe()
    for name, text in {"plain stderr": plain.stderr, "plain stdout": plain.stdout}.items():
        raw = [seq for seq in RAW_SEQUENCES if seq in text]
        assert not raw, f"{name} holds raw {raw!r}:\n{text}"
        assert "\x1b" not in text, name  # no ANSI at all off a terminal
    # The provider's text is shown, with its control characters made visible.
    assert "Bad request \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31;7mRED" in plain.stderr
    assert "RED\\x0d\\x08\\x9b2J\\u202eevil" in plain.stderr  # the failure report
    # The answer is data: the same string once parsed, escaped as JSON on the screen.
    assert json.loads(plain.stdout) == {"said": f"An answer with {ATTACK} inside."}
    assert "\\u009b2J\\u202eevil" in plain.stdout

    raw = [seq for seq in RAW_SEQUENCES if seq in drawn]
    assert not raw, f"the terminal received raw {raw!r}:\n{drawn!r}"
    assert "\\x1b]0;pwned" in drawn
    assert "\x1b[" in drawn  # Rich still styled its own output
