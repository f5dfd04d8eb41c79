"""The chat pages as HTML: who sees what, and the headers every browser page carries."""

import pytest

from accounts.models import PolicyOverride, Role, RolePolicy
from chat.models import Conversation
from chat.services import conversation_create, conversation_update
from documents import services as document_services
from documents.models import Document
from documents.webpages import URL_PATTERN
from tests.documents.test_retrieval import add_document
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, fake_llm):
    user = make_user()
    client.force_login(user)
    return user


def test_the_landing_page_sends_signed_in_users_to_their_chat(client, member):
    assert client.get("/").url == "/chat/"
    client.logout()
    assert b"Sign up" in client.get("/").content


def test_chat_home_is_a_new_conversation_to_type_in_at_once(client, member):
    earlier = conversation_create(owner=member, title="earlier")
    response = client.get("/chat/")
    assert response.status_code == 200, "no redirect: /chat/ is where a new conversation starts"
    page = response.content.decode()
    assert 'id="prompt"' in page, "the composer is there before any conversation exists"
    assert 'data-conversation-id=""' in page
    assert 'data-create-url="/api/v1/conversations/"' in page
    assert f'href="/chat/{earlier.pk}/"' in page, "earlier conversations stay one click away"
    assert Conversation.objects.filter(owner=member).count() == 1, "nothing is created before the first send"


def test_a_conversation_page_lists_only_the_owners_conversations_and_allowed_models(client, member, settings):
    mine = conversation_create(owner=member)
    conversation_create(owner=make_user(), model="fake-cite")
    page = client.get(f"/chat/{mine.pk}/")
    assert page.status_code == 200
    assert [c.pk for c in page.context["conversations"]] == [mine.pk]
    assert page.context["models"] == [m["name"] for m in settings.LLM_MODELS]
    assert f'data-conversation-id="{mine.pk}"'.encode() in page.content


def test_a_role_sees_only_the_models_it_may_use(client, member):
    RolePolicy.objects.filter(role=Role.MEMBER).update(allowed_models=["fake-echo"])
    page = client.get("/chat/")
    assert page.context["models"] == ["fake-echo"]


def test_someone_elses_conversation_is_not_found(client, member):
    other = conversation_create(owner=make_user())
    assert client.get(f"/chat/{other.pk}/").status_code == 404
    assert client.get("/chat/not-a-uuid/").status_code == 404


def test_new_chat_creates_a_conversation_and_opens_it(client, member):
    response = client.post("/chat/new/")
    conversation = Conversation.objects.get(owner=member)
    assert response.url == f"/chat/{conversation.pk}/"
    assert client.get("/chat/new/").status_code == 405


def test_a_viewer_chats_but_is_not_offered_api_keys(client, fake_llm):
    client.force_login(make_user(Role.VIEWER))
    assert client.post("/chat/new/").status_code == 302
    page = client.get("/chat/", follow=True)
    assert b'href="/accounts/keys/"' not in page.content
    assert b'href="/documents/"' in page.content


def test_pages_need_a_sign_in(client):
    assert client.get("/chat/").url.startswith("/accounts/login/")


def test_every_browser_page_carries_a_strict_content_security_policy(client, member):
    for path in ("/chat/", "/documents/", "/accounts/keys/", "/accounts/login/"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp
    docs_csp = client.get("/api/v1/docs/").headers["Content-Security-Policy"]
    assert "script-src 'self';" in docs_csp, "the API docs relax styles only"


def test_the_favicon_has_a_well_known_address(client):
    assert client.get("/favicon.ico").url == "/static/favicon.svg"


def test_a_conversation_shows_the_chosen_documents_the_user_may_still_read_as_attached_files(client, member):
    owner = make_user()
    shared = add_document(owner, [], title="shared handbook", visibility=Document.Visibility.EVERYONE)
    mine = add_document(member, [], title="my notes")
    conversation = conversation_create(owner=member)
    conversation_update(conversation=conversation, documents_mode="selected", document_ids=[mine.pk, shared.pk])
    document_services.document_update(document=shared, actor=owner, visibility=Document.Visibility.PRIVATE)

    page = client.get(f"/chat/{conversation.pk}/")

    assert list(page.context["attached_documents"]) == [mine], "an unshared document is no longer attached"
    assert f'data-document="{mine.pk}"'.encode() in page.content
    assert b"shared handbook" not in page.content


def test_other_documents_modes_attach_no_files(client, member):
    conversation = conversation_create(owner=member)
    mine = add_document(member, [], title="my notes")
    conversation_update(conversation=conversation, documents_mode="selected", document_ids=[mine.pk])
    conversation_update(conversation=conversation, documents_mode="all")
    assert list(client.get(f"/chat/{conversation.pk}/").context["attached_documents"]) == []
    assert list(client.get("/chat/").context["attached_documents"]) == []


def test_the_composer_is_given_the_uploaders_limit_and_the_servers_link_rules(client, member, settings):
    settings.WEB_MAX_URLS_PER_MESSAGE = 3
    PolicyOverride.objects.create(user=member, max_upload_mb=2)
    page = client.get("/chat/")
    assert page.context["upload_max_bytes"] == 2 * 1024 * 1024
    assert page.context["link_rules"].pattern == URL_PATTERN.pattern
    assert page.context["link_rules"].max_count == 3
    assert b'data-max-bytes="2097152"' in page.content
    assert b'data-max="3" data-allowed="true"' in page.content
    assert b'id="attach-files"' in page.content


def test_a_viewer_may_not_attach_files_and_is_told_links_will_not_be_read(client, fake_llm):
    client.force_login(make_user(Role.VIEWER))
    page = client.get("/chat/")
    assert page.context["upload_max_bytes"] == 0
    assert b'id="attach-files"' not in page.content, "no button for what the role may not do"
    assert b'data-allowed="false"' in page.content
