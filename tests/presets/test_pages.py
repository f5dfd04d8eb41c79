"""The Presets page and the chat's preset picker: create, edit (a new revision), share, duplicate, delete and start a
chat, with the services' refusals shown as form errors, never a 500."""

import json

import pytest
from django.test import Client

from chat.models import Conversation
from presets.models import Preset
from tests.factories import make_user
from tests.presets.builders import group_of, make_preset, stored_document

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_llm")]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def editor_post(**changes) -> dict:
    """A full editor submission, as the browser sends it (every field, empty ones as empty strings)."""
    data = {
        "name": "Release notes",
        "slug": "",
        "description": "Writes release notes.",
        "base_model": "",
        "system_prompt": "You write release notes for {user_name}.",
        "temperature": "0.3",
        "top_p": "",
        "max_tokens": "200",
        "web_links": "on",
        "output_kind": "text",
        "output_schema": "",
        "starter_prompts": "Summarise this week\n\n  Draft a changelog  \n",
        "visibility": "private",
        "group_id": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_it_creates_a_preset_from_the_editor():
    owner = make_user()
    response = signed_in(owner).post("/presets/new/", editor_post())
    assert response.status_code == 302
    preset = Preset.objects.get(slug="release-notes")
    assert response["Location"] == "/presets/release-notes/edit/"
    assert preset.owner == owner
    assert preset.visibility == "private"
    current = preset.current
    assert (current.number, current.temperature, current.top_p, current.max_tokens) == (1, 0.3, None, 200)
    assert current.starter_prompts == ["Summarise this week", "Draft a changelog"]
    assert current.system_prompt == "You write release notes for {user_name}."


def test_it_shows_a_bad_schema_as_a_form_error_and_keeps_the_input():
    owner = make_user()
    response = signed_in(owner).post(
        "/presets/new/", editor_post(output_kind="json_schema", output_schema='{"type": "object",')
    )
    assert response.status_code == 400
    assert "This is not valid JSON" in response.content.decode()
    assert "You write release notes" in response.content.decode(), "what the user typed is still there"
    assert not Preset.objects.filter(owner=owner).exists()


def test_it_shows_a_service_refusal_on_the_field_it_names():
    owner = make_user()
    make_preset(owner, "Taken", slug="taken")
    response = signed_in(owner).post("/presets/new/", editor_post(slug="taken"))
    assert response.status_code == 400
    assert response.context["form"].errors["slug"] == ["The slug 'taken' is taken; choose another."]
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    response = signed_in(owner).post(
        "/presets/new/", editor_post(output_kind="json_schema", output_schema=json.dumps(schema))
    )
    assert response.status_code == 302
    stored = Preset.objects.get(slug="release-notes").current.output_format
    assert stored["json_schema"]["schema"] == schema


def test_it_saves_an_edit_as_a_new_revision_and_an_unchanged_save_as_none():
    owner = make_user()
    preset = make_preset(owner, "Notes", system_prompt="First.")
    client = signed_in(owner)
    page = client.get(f"/presets/{preset.slug}/edit/")
    form = page.context["form"]
    unchanged = {name: form[name].value() for name in form.fields}
    unchanged = {k: ("on" if v is True else "" if v in (None, False) else v) for k, v in unchanged.items()}
    unchanged = {k: v for k, v in unchanged.items() if v != ""}
    client.post(f"/presets/{preset.slug}/edit/", unchanged)
    preset.refresh_from_db()
    assert preset.current.number == 1, "saving without changes makes no revision"

    client.post(f"/presets/{preset.slug}/edit/", unchanged | {"system_prompt": "Second."})
    preset.refresh_from_db()
    assert (preset.current.number, preset.current.system_prompt) == (2, "Second.")
    history = client.get(f"/presets/{preset.slug}/edit/").context["revisions"]
    assert [revision.number for revision in history] == [2, 1]


def test_it_shares_with_a_group_and_members_see_it_read_only():
    owner, member, outsider = make_user(), make_user(), make_user()
    team = group_of(owner, member, name="support-team")
    preset = make_preset(owner, "Support voice", system_prompt="Be kind.")
    signed_in(owner).post(
        f"/presets/{preset.slug}/edit/", editor_post(name="Support voice", visibility="group", group_id=str(team.pk))
    )
    preset.refresh_from_db()
    assert (preset.visibility, preset.shared_group) == ("group", team)

    listed = signed_in(member).get("/presets/").context["presets"]
    assert preset in listed
    assert not signed_in(outsider).get("/presets/").context["presets"].count(preset)
    assert signed_in(outsider).get(f"/presets/{preset.slug}/edit/").status_code == 404

    page = signed_in(member).get(f"/presets/{preset.slug}/edit/")
    assert page.context["editable"] is False
    assert all(f.disabled for f in page.context["form"].fields.values())
    refused = signed_in(member).post(f"/presets/{preset.slug}/edit/", editor_post(name="Hijacked"))
    assert refused.status_code == 302
    preset.refresh_from_db()
    assert preset.name == "Support voice"
    assert preset.current.number == 2


def test_a_member_duplicates_a_shared_preset_into_their_own():
    owner, member = make_user(), make_user()
    private = stored_document(owner, "owner-only.txt")
    team = group_of(owner, member)
    preset = make_preset(owner, "Shared", visibility="group", group_id=team.pk, document_ids=[private.pk])
    response = signed_in(member).post(f"/presets/{preset.slug}/duplicate/")
    copy = Preset.objects.get(owner=member)
    assert response["Location"] == f"/presets/{copy.slug}/edit/"
    assert copy.visibility == "private"
    assert copy.name == "Shared (copy)"
    assert not copy.current.documents.exists(), "the copy keeps only documents its new owner may read"


def test_only_the_owner_deletes_and_built_ins_stay():
    owner, member, admin = make_user(), make_user(), make_user(role="admin")
    team = group_of(owner, member)
    preset = make_preset(owner, "Doomed", visibility="group", group_id=team.pk)
    signed_in(member).post(f"/presets/{preset.slug}/delete/")
    assert Preset.objects.filter(pk=preset.pk).exists()
    assert signed_in(owner).post(f"/presets/{preset.slug}/delete/")["Location"] == "/presets/"
    assert not Preset.objects.filter(pk=preset.pk).exists()
    signed_in(admin).post("/presets/support/delete/")
    assert Preset.objects.filter(slug="support", builtin=True).exists()


def test_the_chat_picker_starts_a_conversation_on_a_preset_and_shows_it():
    owner = make_user()
    preset = make_preset(owner, "Coach", starter_prompts=["Plan my week"], locked=True)
    client = signed_in(owner)
    home = client.get("/chat/").content.decode()
    assert 'name="preset"' in home
    assert ">Coach (locked)</option>" in home

    response = client.post("/chat/new/", {"preset": preset.slug})
    conversation = Conversation.objects.get(owner=owner)
    assert conversation.preset_revision == preset.current
    page = client.get(response["Location"]).content.decode()
    assert "Preset: <a" in page
    assert "Coach" in page
    assert "revision 1" in page
    assert "data-starter>Plan my week</button>" in page
    assert '<select id="model-picker" disabled' in page, "a locked preset keeps its model"


def test_a_chat_on_a_preset_no_longer_shared_is_refused_with_a_message():
    owner, member = make_user(), make_user()
    team = group_of(owner, member)
    preset = make_preset(owner, "Fleeting", visibility="group", group_id=team.pk)
    member.groups.remove(team)
    response = signed_in(member).post("/chat/new/", {"preset": preset.slug}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["No preset 'fleeting' you may use."]
    assert "you may use." in response.content.decode(), "the message is on the page"
    assert not Conversation.objects.filter(owner=member).exists()


def test_a_preset_with_knowledge_says_how_many_of_its_documents_the_user_may_read():
    owner, member = make_user(), make_user()
    team = group_of(owner, member)
    mine, shared = stored_document(owner, "mine.txt"), stored_document(owner, "team.txt", visibility="everyone")
    for document in (mine, shared):
        document.status = "ready"
        document.save(update_fields=["status"])
    preset = make_preset(owner, "Knows", visibility="group", group_id=team.pk, document_ids=[mine.pk, shared.pk])
    for user, readable in ((owner, 2), (member, 1)):
        client = signed_in(user)
        page = client.get(client.post("/chat/new/", {"preset": preset.slug})["Location"]).content.decode()
        assert f"The preset's documents ({readable} you may read)</option>" in page
