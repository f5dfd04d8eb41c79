"""Ratings, reports and the moderation queue in the admin: dismiss, hide, suspend, all in the audit log."""

import pytest

from accounts.models import AuditAction, AuditEvent, Role
from chat import moderation, selectors
from chat.models import Message, MessageRating, ModerationFlag
from chat.serializers import message_data
from tests.factories import make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def answered(fake_llm):
    """A member's conversation with one answer."""
    author = make_user(username="author")
    client = session_client(author)
    conversation = client.post("/api/v1/conversations/", {}, format="json").json()
    answer = client.post(f"/api/v1/conversations/{conversation['id']}/messages/", {"content": "hello"}, format="json")
    return author, client, conversation["id"], answer.json()["id"]


def test_users_rate_answers_and_a_thumbs_down_with_a_reason_is_a_report(answered):
    author, client, _, answer_id = answered
    url = f"/api/v1/messages/{answer_id}/rating/"
    assert client.put(url, {"rating": "up"}, format="json").json() == {
        "message_id": answer_id,
        "rating": "up",
        "reported": False,
    }
    assert MessageRating.objects.get().value == MessageRating.UP
    assert client.put(url, {"rating": "down", "reason": "It made things up"}, format="json").json()["reported"]
    flag = ModerationFlag.objects.get()
    assert (flag.source, flag.reporter, flag.author, str(flag.message_id)) == ("report", author, author, answer_id)
    assert "It made things up" in flag.reason
    client.put(url, {"rating": "down", "reason": "And it was rude"}, format="json")
    assert ModerationFlag.objects.count() == 1, "a second report by the same user updates the open one"
    assert client.put(url, {"rating": None}, format="json").json()["rating"] is None
    assert not MessageRating.objects.exists()


def test_ratings_are_only_for_answers_in_your_own_conversations(answered):
    _, _, _, answer_id = answered
    stranger = session_client(make_user())
    assert stranger.put(f"/api/v1/messages/{answer_id}/rating/", {"rating": "up"}, format="json").status_code == 404
    refused = answered[1].put(f"/api/v1/messages/{answer_id}/rating/", {"rating": "meh"}, format="json")
    assert refused.status_code == 400
    assert "rating" in refused.json()["error"]["fields"]


def test_a_moderator_hides_a_flagged_answer_and_suspends_its_author_in_the_admin(answered, client):
    author, author_client, conversation_id, answer_id = answered
    author_client.put(f"/api/v1/messages/{answer_id}/rating/", {"rating": "down", "reason": "abusive"}, format="json")
    flag = ModerationFlag.objects.get()
    moderator = make_user(Role.MODERATOR, username="mod")
    client.force_login(moderator)

    queue = client.get("/admin/chat/moderationflag/?status__exact=open")
    assert queue.status_code == 200
    assert b"abusive" in queue.content
    assert client.get(f"/admin/chat/moderationflag/{flag.pk}/change/").status_code == 200

    changelist = "/admin/chat/moderationflag/"
    hidden = client.post(changelist, {"action": "hide_message", "_selected_action": [flag.pk]}, follow=True)
    assert b"Message hidden: 1 flag" in hidden.content
    message = Message.objects.get(pk=answer_id)
    assert message.hidden_at is not None
    suspended = client.post(changelist, {"action": "suspend_author", "_selected_action": [flag.pk]}, follow=True)
    assert b"Author suspended: 1 flag" in suspended.content
    author.refresh_from_db()
    assert author.is_suspended

    audit = AuditEvent.objects.filter(actor=moderator, target_user=author).values_list("action", flat=True)
    assert set(audit) == {AuditAction.MESSAGE_HIDDEN, AuditAction.USER_SUSPENDED}
    log = client.get("/admin/accounts/auditevent/")  # the moderator reads the moderation part of the log
    assert b"Message hidden" in log.content
    assert b"User suspended" in log.content

    # The owner sees the answer as hidden, and later prompts no longer carry it.
    shown = author_client.get(f"/api/v1/conversations/{conversation_id}/messages/")
    assert shown.status_code in (401, 403), "a suspended user's session no longer works"
    data = [message_data(m) for m in selectors.message_list(conversation=message.conversation)]
    assert data[-1]["hidden"] is True
    assert data[-1]["content"] == ""


def test_dismissing_is_audited_and_members_cannot_moderate(answered, client):
    author, author_client, _, answer_id = answered
    author_client.put(f"/api/v1/messages/{answer_id}/rating/", {"rating": "down", "reason": "wrong"}, format="json")
    flag = ModerationFlag.objects.get()
    client.force_login(make_user())
    assert client.get("/admin/chat/moderationflag/").status_code == 302, "members are sent to sign in"
    moderator = make_user(Role.MODERATOR)
    moderation.flag_dismiss(flag=flag, actor=moderator)
    flag.refresh_from_db()
    assert (flag.status, flag.resolved_by) == ("dismissed", moderator)
    assert AuditEvent.objects.filter(action=AuditAction.FLAG_DISMISSED, target_user=author).exists()
    with pytest.raises(Exception, match="cannot moderate"):
        moderation.flag_dismiss(flag=flag, actor=author)


def test_a_hidden_answer_is_left_out_of_later_prompts(answered, fake_llm):
    _, client, conversation_id, answer_id = answered
    client.put(f"/api/v1/messages/{answer_id}/rating/", {"rating": "down", "reason": "bad"}, format="json")
    moderation.message_hide(flag=ModerationFlag.objects.get(), actor=make_user(Role.MODERATOR))
    client.post(f"/api/v1/conversations/{conversation_id}/messages/", {"content": "again"}, format="json")
    sent = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "assistant"]
    assert Message.objects.get(pk=answer_id).content not in sent
