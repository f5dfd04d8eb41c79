"""Presets in Chromium on the local model: one person creates a preset on the Presets page and shares it with their
group; a member of the group finds it, starts a chat on it from its starter prompt and gets an answer; the owner's
later edit leaves that conversation on its revision."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import User
from chat.models import Conversation, Message
from presets.models import Preset
from tests.conftest import use_models
from tests.e2e.conftest import PHONE, in_orm_thread
from tests.e2e.test_chat_flow import sign_up
from tests.e2e.test_pages import sideways_overflow

pytestmark = pytest.mark.django_db(transaction=True)

INSTRUCTIONS = "You are the Harbor Robotics helpdesk. Answer in one short, friendly sentence."
STARTER = "Say hello to a new colleague."


@pytest.fixture
def live_app(settings, llm_server_url, daphne_server, request) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=24)
    request.getfixturevalue("huey_worker")
    return daphne_server(settings.LLM_MODELS)


def put_in_group(name: str, *usernames: str) -> None:
    def run() -> None:
        group = Group.objects.create(name=name)
        for user in User.objects.filter(username__in=usernames):
            user.groups.add(group)

    in_orm_thread(run)


def stored_preset(name: str) -> Preset:
    return in_orm_thread(lambda: Preset.objects.select_related("current", "shared_group").get(name=name))


def revision_prompt(name: str, number: int) -> str:
    return in_orm_thread(lambda: Preset.objects.get(name=name).revisions.get(number=number).system_prompt)


def member_conversation(username: str) -> tuple[Conversation, list[Message]]:
    def run() -> tuple[Conversation, list[Message]]:
        conversation = Conversation.objects.get(owner__username=username)
        return conversation, list(conversation.messages.order_by("created_at"))

    return in_orm_thread(run)


def create_shared_preset(page, group: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Presets").click()
    page.wait_for_url("**/presets/")
    page.get_by_role("link", name="New preset").click()
    page.get_by_label("Name:", exact=True).fill("Harbor helper")
    page.get_by_label("Description").fill("The helpdesk's voice, for the support team.")
    page.get_by_label("Instructions (system prompt)").fill(INSTRUCTIONS)
    page.get_by_label("Temperature").fill("0.2")
    page.get_by_label("Starter prompts").fill(STARTER)
    page.get_by_label("Shared with").select_option(label="A group")
    page.get_by_label("Group:", exact=True).select_option(label=group)
    page.get_by_role("button", name="Create preset").click()
    page.wait_for_url("**/presets/harbor-helper/edit/")
    assert page.get_by_text("Preset “Harbor helper” created.").is_visible()


def test_a_preset_shared_with_a_group_is_used_by_a_member(live_app, open_page, screenshot):
    owner = open_page(live_app)
    member = open_page(live_app, PHONE)
    sign_up(owner, "olga")
    sign_up(member, "maxim")
    put_in_group("support-team", "olga", "maxim")

    create_shared_preset(owner, "support-team")
    screenshot(owner, "preset created", full_page=True)
    preset = stored_preset("Harbor helper")
    assert (preset.visibility, preset.shared_group.name) == ("group", "support-team")
    assert (preset.current.system_prompt, preset.current.temperature) == (INSTRUCTIONS, 0.2)

    # The member finds it on their Presets page, on a phone, and starts a chat on it.
    member.goto("/presets/")
    card = member.locator(".preset-card", has_text="Harbor helper")
    assert "Group: support-team" in card.inner_text()
    assert sideways_overflow(member) == [], "at phone width the page must not scroll sideways"
    screenshot(member, "member sees the shared preset")
    card.get_by_role("button", name="Chat with Harbor helper").click()
    member.wait_for_url("**/chat/*/")
    assert "Preset: Harbor helper" in member.locator("#chat-preset").inner_text()

    # Its starter prompt sends at once; the local model answers under the preset.
    member.get_by_role("button", name=STARTER).click()
    member.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    assert member.locator("#starter-prompts").is_hidden(), "starter prompts give way to the conversation"
    answer = member.locator(".message-assistant .message-body").first.inner_text().strip()
    assert answer
    screenshot(member, "member chatted with the preset")
    conversation, messages = member_conversation("maxim")
    assert conversation.preset_revision_id == preset.current_id
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == STARTER
    assert messages[1].content.strip() == answer

    # The owner edits it: a new revision; the member's conversation stays on the one it started with.
    owner.get_by_label("Instructions (system prompt)").fill("You are a pirate. " + INSTRUCTIONS)
    owner.get_by_role("button", name="Save (a new revision)").click()
    assert owner.get_by_text("saved as revision 2").is_visible()
    assert owner.locator(".revision-list li").count() == 2
    member.reload()
    assert "revision 1 (it has been edited since" in member.locator("#chat-preset").inner_text()
    assert revision_prompt("Harbor helper", 1) == INSTRUCTIONS
    assert revision_prompt("Harbor helper", 2).startswith("You are a pirate.")


def test_a_member_cannot_change_a_shared_preset_but_can_duplicate_it(live_app, open_page, screenshot):
    owner = open_page(live_app)
    member = open_page(live_app)
    sign_up(owner, "olga")
    sign_up(member, "maxim")
    put_in_group("support-team", "olga", "maxim")
    create_shared_preset(owner, "support-team")

    member.goto("/presets/harbor-helper/edit/")
    assert member.get_by_text("Shared with you by olga").is_visible()
    assert member.get_by_label("Instructions (system prompt)").is_disabled()
    assert member.get_by_role("button", name="Save (a new revision)").count() == 0
    member.get_by_role("button", name="Duplicate").click()
    member.wait_for_url("**/presets/harbor-helper-copy/edit/")
    member.get_by_label("Instructions (system prompt)").fill("Answer in French.")
    member.get_by_role("button", name="Save (a new revision)").click()
    assert member.get_by_text("saved as revision 2").is_visible()
    screenshot(member, "member's own copy")
    assert stored_preset("Harbor helper").current.system_prompt == INSTRUCTIONS, "the original is untouched"
