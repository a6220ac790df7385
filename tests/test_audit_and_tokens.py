"""Nobody in (issue 8, item 5): brute force locked out, API tokens hashed and
revocable, Page tokens encrypted with key rotation, an audit log of sign-ins,
settings changes, hides, deletes and exports."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.db import connection

from inbox import simulation
from inbox.models import ApiToken, AuditLog, Page

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def _sign_in(client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


# --- Brute force ---------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_from_that_network(client, alice, bob):
    statuses = [_sign_in(client, "alice", "guess").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the form again, then the lockout page
    locked = _sign_in(client, "alice", "alice-password-2026")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session  # even the right password is refused now
    client.cookies.load({"django_language": "en"})
    assert "Too many failed sign-in attempts" in _sign_in(client, "alice", "x").content.decode()
    # Another account, or the same one from elsewhere, is not held hostage.
    assert _sign_in(client, "bob", "bob-password-2026").status_code == 302
    client.logout()
    assert _sign_in(client, "alice", "alice-password-2026", ip="198.51.100.9").status_code == 302


def test_a_successful_sign_in_resets_the_count(client, alice):
    for _ in range(4):
        _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "alice-password-2026").status_code == 302
    client.logout()
    for _ in range(4):
        _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "alice-password-2026").status_code == 302


def test_an_admin_can_lift_a_lockout(client, alice):
    from axes.utils import reset

    for _ in range(5):
        _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "alice-password-2026").status_code == 429
    reset(username="alice")
    assert _sign_in(client, "alice", "alice-password-2026").status_code == 302


def test_a_deactivated_user_cannot_sign_in(client, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert _sign_in(client, "alice", "alice-password-2026").status_code == 200
    assert "_auth_user_id" not in client.session


# --- The audit log of sign-ins -----------------------------------------------------------


def test_sign_ins_failures_and_sign_outs_are_audited_without_the_password(client, alice):
    _sign_in(client, "alice", "wrong-secret-password")
    _sign_in(client, "alice", "alice-password-2026")
    client.post("/accounts/logout/", REMOTE_ADDR="203.0.113.7")
    entries = list(AuditLog.objects.order_by("at", "pk").values_list("action", "actor__username", "ip_address", "data"))
    assert entries == [
        ("sign_in_failed", None, "203.0.113.7", {"username": "alice"}),
        ("sign_in", "alice", "203.0.113.7", {}),
        ("sign_out", "alice", "203.0.113.7", {}),
    ]
    assert not AuditLog.objects.filter(data__icontains="wrong-secret-password").exists()


# --- API tokens ------------------------------------------------------------------------------


def _api(client, page, key: str):
    return client.get(f"/api/v1/pages/{page.meta_page_id}/responsiveness", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_api_tokens_are_stored_hashed_and_shown_once(client, page, alice):
    out = io.StringIO()
    call_command("create_api_token", "alice", "--name", "Looker", stdout=out)
    key = out.getvalue().strip()
    assert key.startswith("rk_") and len(key) > 40
    token = ApiToken.objects.get()
    assert token.key_hash == ApiToken.hash_key(key) != key
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM inbox_apitoken")
        assert not any(key in str(value) for row in cursor.fetchall() for value in row)
    assert _api(client, page, key).status_code == 200
    assert AuditLog.objects.filter(action="api_token_created", data__token=token.prefix).exists()


def test_a_revoked_token_is_refused_from_the_next_request(client, page, alice):
    from inbox.services import audit

    token, key = audit.create_api_token(user=alice, name="Looker")
    assert _api(client, page, key).status_code == 200
    out = io.StringIO()
    call_command("revoke_api_token", "--list", stdout=out)
    assert token.prefix in out.getvalue() and key not in out.getvalue()
    call_command("revoke_api_token", token.prefix, stdout=io.StringIO())
    assert _api(client, page, key).status_code == 401
    assert AuditLog.objects.filter(action="api_token_revoked", data__token=token.prefix).count() == 1
    assert audit.revoke_api_token(token=token) is False  # already revoked: no second entry
    assert AuditLog.objects.filter(action="api_token_revoked").count() == 1


def test_revoking_all_of_a_users_tokens(client, page, alice, bob):
    from inbox.services import audit

    keys = [audit.create_api_token(user=alice)[1] for _ in range(2)]
    _, bobs = audit.create_api_token(user=bob)
    call_command("revoke_api_token", "--user", "alice", stdout=io.StringIO())
    assert [_api(client, page, key).status_code for key in keys] == [401, 401]
    assert _api(client, page, bobs).status_code == 200


def test_a_deactivated_users_tokens_stop_working(client, page, alice):
    from inbox.services import audit

    _, key = audit.create_api_token(user=alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert _api(client, page, key).status_code == 401


def test_the_admin_revokes_through_the_audited_service(admin_client, alice):
    from inbox.services import audit

    token, _ = audit.create_api_token(user=alice)
    response = admin_client.post("/admin/inbox/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditLog.objects.filter(action="api_token_revoked", actor__username="admin").exists()


# --- Page tokens at rest ---------------------------------------------------------------------------


def _stored(page: Page) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM inbox_page WHERE id = %s", [page.pk])
        return cursor.fetchone()[0]


def test_page_tokens_are_encrypted_at_rest(page):
    stored = _stored(page)
    assert "page-token" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert Page.objects.get(pk=page.pk).access_token == "page-token"


def test_page_tokens_survive_a_key_rotation(page, settings):
    from cryptography.fernet import Fernet

    old = settings.FIELD_ENCRYPTION_KEY
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = f"{new},{old}"  # 1. the new key first, the old one still reads
    assert Page.objects.get(pk=page.pk).access_token == "page-token"
    call_command("rotate_page_tokens", stdout=io.StringIO())  # 2. re-encrypt
    settings.FIELD_ENCRYPTION_KEY = new  # 3. the old key dropped
    assert Page.objects.get(pk=page.pk).access_token == "page-token"
    assert Fernet(new.encode()).decrypt(_stored(page).encode()) == b"page-token"


def test_a_decryption_kept_for_speed_never_outlives_its_key(page, settings):
    from cryptography.fernet import Fernet
    from django.core.exceptions import ImproperlyConfigured

    assert Page.objects.get(pk=page.pk).access_token == "page-token"
    assert Page.objects.get(pk=page.pk).access_token == "page-token"  # the kept one
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()  # the key that encrypted it is gone
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        Page.objects.get(pk=page.pk)


def test_rotation_refuses_loudly_when_a_token_has_no_key(page, settings):
    from cryptography.fernet import Fernet
    from django.core.management.base import CommandError

    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match=page.meta_page_id):
        call_command("rotate_page_tokens", stdout=io.StringIO())


# --- The audit log of what members do -------------------------------------------------------------------


def test_hiding_a_comment_is_audited_with_its_reason(page, alice, deliver, fake_graph):
    from inbox.models import Message
    from inbox.services import hide_comment

    deliver(simulation.envelope(page.meta_page_id, changes=[simulation.comment(
        page.meta_page_id, at=time.time() - 60, text="Nul !", from_id="c1", from_name="Jean",
        post_id=f"{page.meta_page_id}_1", comment_id=f"{page.meta_page_id}_5")]))
    hide_comment(comment=Message.objects.get(mid=f"{page.meta_page_id}_5"), actor=alice, hidden=True,
                 reason="Insultes")
    entry = AuditLog.objects.get(action="comment_hidden")
    assert (entry.actor, entry.page, entry.data["reason"]) == (alice, page, "Insultes")


def test_archiving_a_saved_reply_is_audited_once(page, alice):
    from templates_app.models import SavedReply
    from templates_app.services import archive_saved_reply

    saved_reply = SavedReply.objects.create(page=page, title="Horaires", shortcut="/horaires", body="9 h – 19 h",  # noqa: RUF001 - French typography
                                            created_by=alice)
    archive_saved_reply(saved_reply=saved_reply, actor=alice)
    archive_saved_reply(saved_reply=saved_reply, actor=alice)
    entries = AuditLog.objects.filter(action="saved_reply_archived")
    assert [(e.actor, e.page, e.data["title"]) for e in entries] == [(alice, page, "Horaires")]


def test_exports_are_audited(client, page, alice):
    from django.urls import NoReverseMatch, reverse

    client.force_login(alice)
    exports = []
    for name, args in (("templates_app:export_for_page", [page.pk]), ("inbox:dashboard_export", [page.pk])):
        try:
            exports.append(reverse(name, args=args))
        except NoReverseMatch:
            continue
    assert exports
    for url in exports:
        response = client.get(url)
        assert response.status_code == 200, url
        b"".join(response.streaming_content) if response.streaming else response.content
    assert AuditLog.objects.filter(actor=alice, page=page).count() >= len(exports)
