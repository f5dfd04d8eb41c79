"""The intersection rule: retrieval under a preset is the preset's knowledge intersected with what the asking user
may read — in chat and on /v1. A shared preset never opens a document its user could not open."""

import json

import pytest

from chat.models import DailyUsage
from tests.chat.rag.test_grounding import ZEPHYR, ready_document
from tests.factories import key_client, make_key, make_user, session_client
from tests.presets.builders import group_of, make_preset

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "What is the budget of Project Zephyr?"


def upstream_prompt(fake_llm, question: str) -> str:
    """The messages the model server got for the answer to ``question``, as one text."""
    asked = [r for r in fake_llm.requests if r.get("messages") and r["messages"][-1].get("content") == question]
    return json.dumps(asked[-1]["messages"])


def ask_in_chat(user, preset: str) -> dict:
    client = session_client(user)
    conversation = client.post("/api/v1/conversations/", {"preset": preset}, format="json")
    assert conversation.status_code == 201, conversation.content
    answer = client.post(f"/api/v1/conversations/{conversation.json()['id']}/messages/", {"content": QUESTION})
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_a_user_without_access_to_the_presets_document_gets_no_citation_from_it(fake_llm):
    owner, other = make_user(), make_user()
    private = ready_document(owner, ZEPHYR)
    # The other user has a Zephyr document of their own: under the preset it must not be searched either (the
    # preset's knowledge restricts retrieval; an empty intersection is "nothing", never "everything").
    ready_document(other, ["Project Zephyr notes of my own: the budget is 9 euros."], name="mine.pdf")
    preset = make_preset(owner, "Zephyr desk", base_model="fake-cite", visibility="everyone", document_ids=[private.pk])

    owners = ask_in_chat(owner, preset.slug)
    assert [source["document_id"] for source in owners["sources"]] == [str(private.pk)]
    assert "4.2 million" in upstream_prompt(fake_llm, QUESTION)

    fake_llm.requests.clear()
    others = ask_in_chat(other, preset.slug)
    assert others["sources"] == []
    sent = upstream_prompt(fake_llm, QUESTION)
    assert "4.2 million" not in sent
    assert "9 euros" not in sent, "retrieval under a preset stays inside its knowledge"


def test_the_rule_holds_on_v1_too(fake_llm):
    owner, member, outsider = make_user(), make_user(), make_user()
    team = group_of(owner, member)
    document = ready_document(owner, ZEPHYR)
    document.visibility, document.shared_group = "group", team
    document.save()
    make_preset(owner, "Zephyr desk", base_model="fake-cite", visibility="everyone", document_ids=[document.pk])
    body = {"model": "preset/zephyr-desk", "messages": [{"role": "user", "content": QUESTION}]}
    for user, sees in ((member, True), (outsider, False)):
        fake_llm.requests.clear()
        response = key_client(make_key(user)).post("/v1/chat/completions", body, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["model"] == "preset/zephyr-desk"
        assert ("4.2 million" in upstream_prompt(fake_llm, QUESTION)) is sees
    # Quotas count a preset's tokens on its base model.
    assert DailyUsage.objects.get(user=outsider).model == "fake-cite"
