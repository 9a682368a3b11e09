"""Tool failures go back to the model as results; limits end the turn with a clear event, never a
hang: loop detection, max steps, and token caps checked before model and tool calls."""

from __future__ import annotations

from tests.agents.conftest import Env
from tests.agents.tools import RAN
from tests.support.wire.base import Call, Tokens


def _events(r: object) -> list[dict[str, object]]:
    return r.json()["events"]  # type: ignore[attr-defined, no-any-return]


def test_tool_errors_timeouts_and_bad_arguments_are_results_for_the_model(env: Env) -> None:
    sid = env.session(env.kim)
    env.model.calls(Call("c1", "slow", {}), Call("c2", "broken", {"n": 3}), Call("c3", "weather", {"town": "Seoul"}),
                    Call("c4", "broken", {"n": "three"}))
    env.model.say("Sorry, the tools failed.")
    n = len(env.model.requests)
    r = env.say(env.kim, sid, "try everything")
    assert r.status_code == 200, r.text
    results = {e["call_id"]: e for e in _events(r) if e["type"] == "tool_result"}
    assert results["c1"]["status"] == "error" and "timed out after 0.5 s" in str(results["c1"]["content"])
    assert results["c2"]["status"] == "error" and "disk on fire (3)" in str(results["c2"]["content"])
    assert results["c3"]["status"] == "invalid" and "city: Field required" in str(results["c3"]["content"])
    assert "town: Extra inputs are not permitted" in str(results["c3"]["content"])
    assert results["c4"]["status"] == "invalid" and "n: Input should be a valid integer" in str(results["c4"]["content"])
    assert r.json()["answer"] == "Sorry, the tools failed."
    sent = {m["tool_call_id"]: m["content"] for m in env.model.requests[n + 1]["messages"] if m["role"] == "tool"}
    assert set(sent) == {"c1", "c2", "c3", "c4"}


def test_the_same_call_repeated_ends_the_turn(env: Env) -> None:
    sid = env.session(env.kim)
    before = len(RAN["weather"])
    for i in range(3):
        env.model.calls(Call(f"l{i}", "weather", {"city": "Daegu"}))
    r = env.say(env.kim, sid, "weather in Daegu, again and again")
    events = _events(r)
    assert events[-2]["type"] == "error" and events[-2]["code"] == "loop_detected", events
    assert events[-1] == {**events[-1], "type": "done", "status": "idle"}
    assert len(RAN["weather"]) - before == 2  # the third identical call did not run
    assert env.model.replies == type(env.model.replies)()  # no fourth step was asked for
    # The session is usable again: the unanswered call was closed for the model.
    env.model.say("ok")
    assert env.say(env.kim, sid, "thanks").json()["answer"] == "ok"


def test_max_steps_ends_the_turn(env: Env) -> None:
    sid = env.session(env.kim)
    for i, city in enumerate(["A", "B", "C", "D"]):
        env.model.calls(Call(f"m{i}", "weather", {"city": city}))
    r = env.say(env.kim, sid, "tour")
    events = _events(r)
    assert [e["type"] for e in events].count("step") == 4
    assert events[-2]["code"] == "max_steps" and "4 model steps" in str(events[-2]["message"])


def test_a_token_cap_is_checked_before_the_next_tool_call(env: Env) -> None:
    agent = {"name": "capped", "model": "gpt-test", "tools": [{"name": "weather"}],
             "limits": {"max_tokens_per_turn": 60}}
    r = env.call("POST", "/v1/agents", env.admin, agent)
    assert r.status_code == 201, r.text
    sid = env.session(env.kim, "capped")
    env.model.calls(Call("t1", "weather", {"city": "Jeju"}), tokens=Tokens(40, 10))
    env.model.calls(Call("t2", "weather", {"city": "Ulsan"}), tokens=Tokens(40, 10))
    r = env.say(env.kim, sid, "Jeju then Ulsan", agent="capped")
    events = _events(r)
    results = [(e["call_id"], e["status"]) for e in events if e["type"] == "tool_result"]
    assert results == [("t1", "ok"), ("t2", "skipped")]
    assert events[-2]["code"] == "max_tokens_per_turn" and events[-1]["usage"]["turn_tokens"] == 100
    assert ("kim", "Ulsan", "c") not in RAN["weather"]
