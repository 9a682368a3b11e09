"""`gureum agents list|run|approve` against a running server, as the key's user."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from gureum.cli import app
from tests.agents.conftest import Env
from tests.agents.tools import RAN
from tests.support.wire.base import Call

runner = CliRunner()


def _cli(env: Env, key: str, *args: str) -> str:
    result = runner.invoke(app, ["agents", *args, "--url", env.base, "--key", key], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_list_and_run_stream_the_turn(env: Env) -> None:
    assert "helper" in _cli(env, env.kim, "list") and "pay (risky)" not in _cli(env, env.kim, "list")
    env.model.calls(Call("cli1", "weather", {"city": "Incheon"}))
    env.model.say("Sunny in Incheon.")
    out = _cli(env, env.kim, "run", "helper", "weather in Incheon?")
    assert "→ weather" in out and "← weather (ok)" in out and "Sunny in Incheon." in out
    assert ("kim", "Incheon", "c") in RAN["weather"]


def test_run_pauses_and_approve_continues(env: Env) -> None:
    env.model.calls(Call("cli2", "pay", {"to": "han", "amount": 2}))
    out = _cli(env, env.kim, "run", "helper", "pay han 2")
    found = re.search(r"gureum agents approve helper (sess_[0-9a-f]+) (appr_[0-9a-f]+)", out)
    assert found, out
    env.model.say("Paid han.")
    out = _cli(env, env.kim, "approve", "helper", found.group(1), found.group(2), "--reason", "ok")
    assert "← pay (ok)" in out and "Paid han." in out and RAN["payment"][-1] == ("kim", "han", 2)


def test_errors_say_what_to_do(env: Env) -> None:
    result = runner.invoke(app, ["agents", "run", "nobody", "hi", "--url", env.base, "--key", env.kim])
    assert result.exit_code == 2 and "no agent 'nobody'" in result.output and "hint:" in result.output
