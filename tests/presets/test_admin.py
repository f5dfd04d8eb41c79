"""The admin: presets with their revisions (read-only); admins edit a built-in, and the edit is a new revision."""

import re

import pytest
from django.test import Client

from accounts.models import Role
from presets.models import Preset
from tests.factories import make_user

pytestmark = pytest.mark.django_db

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def admin_client() -> Client:
    client = Client()
    client.force_login(make_user(Role.ADMIN))
    return client


def test_an_admin_edits_a_builtin_and_gets_a_new_revision(fake_llm):
    client = admin_client()
    support = Preset.objects.get(slug="support")
    url = f"/admin/presets/preset/{support.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert "customer-support agent" in page.content.decode()
    form = dict(HIDDEN.findall(page.content.decode()))
    form |= {
        "name": "Customer support",
        "description": support.description,
        "base_model": "",
        "system_prompt": "You are a patient support agent for {user_name}.",
        "temperature": "0.2",
        "top_p": "",
        "max_tokens": "",
        "web_links": "on",
        "output_format": "null",
        "starter_prompts": '["My order is late"]',
    }
    saved = client.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    support.refresh_from_db()
    assert support.current.number == 2
    assert support.current.system_prompt.startswith("You are a patient")
    assert support.current.temperature == 0.2
    assert support.revisions.count() == 2
    assert support.revisions.get(number=1).system_prompt.startswith("You are {preset_name}, a calm")


def test_the_admin_refuses_an_invalid_setting_on_the_form(fake_llm):
    client = admin_client()
    support = Preset.objects.get(slug="support")
    url = f"/admin/presets/preset/{support.pk}/change/"
    form = dict(HIDDEN.findall(client.get(url).content.decode()))
    form |= {"name": "Support", "temperature": "5", "starter_prompts": "[]", "output_format": '{"type": "xml"}'}
    page = client.post(url, form)
    assert page.status_code == 200, "the form is shown again with its errors"
    assert Preset.objects.get(pk=support.pk).current.number == 1


def test_members_do_not_reach_the_presets_admin(fake_llm):
    client = Client()
    client.force_login(make_user(Role.MEMBER))
    assert client.get("/admin/presets/preset/").status_code in (302, 403)


def test_role_policies_show_allowed_presets(fake_llm):
    page = admin_client().get("/admin/accounts/rolepolicy/")
    assert page.status_code == 200
    from accounts.models import RolePolicy

    policy = RolePolicy.objects.get(role=Role.MEMBER)
    change = admin_client().get(f"/admin/accounts/rolepolicy/{policy.pk}/change/").content.decode()
    assert 'name="allowed_presets"' in change
