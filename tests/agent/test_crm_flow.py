"""The agent with the real HubSpot client against the local CRM service over HTTP."""

from __future__ import annotations

from pathlib import Path

from agent.models.scripted import ScriptedChatModel, text_turn, tool_turn
from agent.runtime.services import open_runtime
from agent.settings import Settings
from connectors.crm import HubSpotClient
from connectors.crm_service import CrmServer
from evals.trajectories import TurnSpec, _turn


def test_crm_down_gives_a_clear_message_and_the_conversation_continues(tmp_path: Path) -> None:
    echo = _turn(TurnSpec(echo_last_tool=True))
    model = ScriptedChatModel.from_turns(
        [
            tool_turn("crm_search", {"object_type": "deals", "query": "Acme"}),
            echo,
            tool_turn("crm_search", {"object_type": "deals", "query": "Acme"}),
            echo,
        ]
    )
    with CrmServer(token="t") as server:
        client = HubSpotClient(server.url, "t", max_retries=1, backoff=0.0)
        with open_runtime(Settings(data_dir=tmp_path), chat_model=model, crm=client) as rt:
            server.set_fault("down")
            out = rt.ask("u_alice", "Acme deals?", thread_id="c1")
            assert out.status == "answered" and out.answer is not None
            assert "unavailable" in out.answer.text.lower()
            server.set_fault(None)
            again = rt.ask("u_alice", "try again", thread_id="c1")
            assert again.answer is not None and "Acme Corporation" in again.answer.text
        client.close()


def test_approved_crm_write_lands_once_over_http(tmp_path: Path) -> None:
    model = ScriptedChatModel.from_turns(
        [tool_turn("crm_update_deal", {"deal_id": "30001", "stage": "closedwon"}), text_turn("done")]
    )
    with CrmServer(token="t") as server:
        client = HubSpotClient(server.url, "t")
        with open_runtime(Settings(data_dir=tmp_path), chat_model=model, crm=client) as rt:
            out = rt.ask("u_alice", "close 30001", thread_id="c2")
            view = out.pending[0]
            assert view.current["stage"] == "Contract sent" and view.proposed["stage"] == "Closed won"
            res = rt.decide(view.id, approver_id="u_raj", approve=True)
            assert res.final
            rt.decide(view.id, approver_id="u_raj", approve=True)
            rt.recover()
        patches = [line for line in server.request_log if line.startswith("PATCH")]
        assert len(patches) == 1, server.request_log
        assert client.get("deals", "30001", ["dealstage"]).properties["dealstage"] == "closedwon"
        client.close()
