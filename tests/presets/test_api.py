"""/api/v1/presets/: list, create, read with history, change (a new revision), share, duplicate, delete — and the
refusals, each in the API's error shape naming the field at fault."""

import pytest

from accounts.models import Role
from presets.models import Preset, PresetRevision
from tests.factories import make_user, session_client
from tests.presets.builders import group_of, make_preset, stored_document

pytestmark = pytest.mark.django_db

BUILTINS = ["general", "recommendation", "support", "ecommerce"]


def error_of(response) -> dict:
    return response.json()["error"]


def test_it_lists_the_builtins_and_the_callers_own_presets_with_editable(fake_llm):
    member = make_user()
    make_preset(member, "Mine")
    make_preset(make_user(), "Someone else's")  # private: not listed
    rows = session_client(member).get("/api/v1/presets/").json()["results"]
    slugs = [row["slug"] for row in rows]
    assert set(slugs) == {*BUILTINS, "mine"}
    assert slugs[:4] == [row["slug"] for row in rows if row["builtin"]], "built-ins come first"
    editable = {row["slug"]: row["editable"] for row in rows}
    assert editable["mine"] is True
    assert not any(editable[slug] for slug in BUILTINS), "a member cannot edit the built-ins"
    mine = next(row for row in rows if row["slug"] == "mine")
    assert mine["model"] == "preset/mine"
    assert mine["current"]["number"] == 1


def test_it_creates_a_preset_with_its_first_revision(fake_llm):
    client = session_client(make_user())
    body = {
        "name": "Release notes",
        "description": "Writes release notes",
        "base_model": "fake-echo",
        "system_prompt": "Write release notes for {user_name}.",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 300,
        "web_links": False,
        "output_format": {"type": "json_object"},
        "starter_prompts": ["Notes for v2"],
        "locked": True,
    }
    response = client.post("/api/v1/presets/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["slug"] == "release-notes"
    assert created["visibility"] == "private"
    current = created["current"]
    assert {k: current[k] for k in body if k in current} == {k: v for k, v in body.items() if k in current}
    assert [revision["number"] for revision in created["revisions"]] == [1]


def test_an_edit_makes_a_new_revision_and_a_rename_does_not(fake_llm):
    owner = make_user()
    preset = make_preset(owner, system_prompt="First.")
    client = session_client(owner)
    renamed = client.patch(f"/api/v1/presets/{preset.slug}/", {"name": "Renamed"}, format="json").json()
    assert renamed["name"] == "Renamed"
    assert renamed["current"]["number"] == 1
    edited = client.patch(f"/api/v1/presets/{preset.pk}/", {"system_prompt": "Second."}, format="json").json()
    assert edited["current"]["number"] == 2
    assert [(r["number"], r["system_prompt"]) for r in edited["revisions"]] == [(2, "Second."), (1, "First.")]
    assert PresetRevision.objects.get(preset=preset, number=1).system_prompt == "First.", "revisions never change"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 3),
        ("top_p", -0.1),
        ("max_tokens", 0),
        ("base_model", "gpt-17"),
        ("output_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "wrong"}}}),
        ("output_format", {"type": "xml"}),
        ("starter_prompts", ["a"] * 7),
        ("slug", "9lives"),
        ("name", ""),
    ],
)
def test_it_rejects_an_invalid_setting_naming_the_field(fake_llm, field, value):
    body = {"name": "Valid"} | {field: value}
    response = session_client(make_user()).post("/api/v1/presets/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["fields"], error_of(response)
    assert error_of(response)["message"]


def test_it_refuses_a_taken_slug_and_a_changed_one(fake_llm):
    owner = make_user()
    make_preset(owner, "One", slug="shared-slug")
    client = session_client(owner)
    taken = client.post("/api/v1/presets/", {"name": "Two", "slug": "shared-slug"}, format="json")
    assert taken.status_code == 409
    assert error_of(taken)["code"] == "slug_taken"
    changed = client.patch("/api/v1/presets/shared-slug/", {"slug": "other"}, format="json")
    assert changed.status_code == 400
    assert "slug" in error_of(changed)["fields"]


def test_it_refuses_changes_to_someone_elses_preset(fake_llm):
    owner, other = make_user(), make_user()
    shared = make_preset(owner, "Shared", visibility="everyone")
    private = make_preset(owner, "Private")
    client = session_client(other)
    assert client.get(f"/api/v1/presets/{shared.slug}/").status_code == 200, "a shared preset is readable"
    for method, body in (("patch", {"system_prompt": "mine now"}), ("delete", None)):
        refused = getattr(client, method)(f"/api/v1/presets/{shared.slug}/", body, format="json")
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "forbidden"
        hidden = getattr(client, method)(f"/api/v1/presets/{private.slug}/", body, format="json")
        assert hidden.status_code == 404, "another's private preset is as missing as one that does not exist"
        assert error_of(hidden)["message"]
    assert Preset.objects.get(pk=shared.pk).current.number == 1


def test_a_group_preset_is_visible_to_the_group_only(fake_llm):
    owner, member, outsider = make_user(), make_user(), make_user()
    team = group_of(owner, member)
    client = session_client(owner)
    created = client.post(
        "/api/v1/presets/", {"name": "Team", "visibility": "group", "group_id": team.pk}, format="json"
    ).json()
    assert created["shared_group"] == "team"
    assert session_client(member).get("/api/v1/presets/team/").status_code == 200
    assert session_client(outsider).get("/api/v1/presets/team/").status_code == 404
    assert "team" not in [row["slug"] for row in session_client(outsider).get("/api/v1/presets/").json()["results"]]


def test_it_refuses_sharing_with_a_group_one_is_not_in_and_sharing_by_a_viewer(fake_llm):
    owner = make_user()
    elsewhere = group_of(make_user(), name="elsewhere")
    response = session_client(owner).post(
        "/api/v1/presets/", {"name": "X", "visibility": "group", "group_id": elsewhere.pk}, format="json"
    )
    assert response.status_code == 400
    assert "group_id" in error_of(response)["fields"]
    viewer = session_client(make_user(Role.VIEWER))
    assert viewer.post("/api/v1/presets/", {"name": "Mine"}, format="json").status_code == 201
    shared = viewer.post("/api/v1/presets/", {"name": "Ours", "visibility": "everyone"}, format="json")
    assert shared.status_code == 403


def test_admins_edit_the_builtins_as_new_revisions_and_members_cannot(fake_llm):
    admin = session_client(make_user(Role.ADMIN))
    edited = admin.patch("/api/v1/presets/support/", {"temperature": 0.1}, format="json")
    assert edited.status_code == 200, edited.content
    assert edited.json()["current"]["number"] == 2
    assert edited.json()["editable"] is True
    assert admin.delete("/api/v1/presets/support/").status_code == 403, "built-ins are not deleted, only hidden"
    member = session_client(make_user())
    assert member.patch("/api/v1/presets/support/", {"temperature": 1}, format="json").status_code == 403


def test_duplicating_makes_a_private_copy_with_only_readable_documents(fake_llm):
    owner, other = make_user(), make_user()
    mine, public = stored_document(owner, "private.txt"), stored_document(owner, "public.txt", visibility="everyone")
    shared = make_preset(owner, "Shared", visibility="everyone", document_ids=[mine.pk, public.pk], locked=True)
    copy = session_client(other).post(f"/api/v1/presets/{shared.slug}/duplicate/", {}, format="json")
    assert copy.status_code == 201, copy.content
    data = copy.json()
    assert data["owner"] == other.username
    assert data["visibility"] == "private"
    assert data["editable"] is True
    assert data["current"]["locked"] is True
    assert [d["id"] for d in data["current"]["documents"]] == [str(public.pk)]
    assert list(Preset.objects.get(slug=data["slug"]).current.documents.all()) == [public]


def test_a_shared_preset_shows_only_the_documents_the_reader_may_read(fake_llm):
    owner = make_user()
    secret = stored_document(owner, "secret.txt")
    make_preset(owner, "Shared", visibility="everyone", document_ids=[secret.pk])
    seen = session_client(make_user()).get("/api/v1/presets/shared/").json()
    assert seen["current"]["documents"] == []
    assert session_client(owner).get("/api/v1/presets/shared/").json()["current"]["documents"][0]["title"]


def test_a_preset_cannot_name_a_document_its_author_cannot_read(fake_llm):
    secret = stored_document(make_user(), "secret.txt")
    response = session_client(make_user()).post(
        "/api/v1/presets/", {"name": "Sneaky", "document_ids": [str(secret.pk)]}, format="json"
    )
    assert response.status_code == 400
    assert "document_ids" in error_of(response)["fields"]


def test_the_owner_deletes_their_preset_and_its_conversations_go_on_without_it(fake_llm):
    from chat import services as chat_services

    owner = make_user()
    preset = make_preset(owner)
    conversation = chat_services.conversation_create(owner=owner, preset=preset.slug)
    assert session_client(owner).delete(f"/api/v1/presets/{preset.slug}/").status_code == 204
    conversation.refresh_from_db()
    assert conversation.preset_revision_id is None


def test_a_role_restriction_hides_and_refuses_other_presets(fake_llm):
    from accounts.models import RolePolicy

    RolePolicy.objects.filter(role=Role.MEMBER).update(allowed_presets=["support"])
    member = make_user()
    make_preset(member, "Mine")
    client = session_client(member)
    assert [row["slug"] for row in client.get("/api/v1/presets/").json()["results"]] == ["support"]
    refused = client.post("/api/v1/conversations/", {"preset": "general"}, format="json")
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "model_not_allowed"
    assert "preset" in error_of(refused)["fields"]
    allowed = client.post("/api/v1/conversations/", {"preset": "support"}, format="json")
    assert allowed.status_code == 201
    assert allowed.json()["preset"]["slug"] == "support"
    assert client.get("/api/v1/me/").json()["policy"]["allowed_presets"] == ["support"]
