"""Managing saved replies: list with search and usage figures, stale ones,
create, edit, archive, restore, duplicate, live preview, CSV import and
export; who may do what (alice: admin, bob: agent, charlie: outsider)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from itertools import count

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from inbox.models import (
    AuditLog,
    Channel,
    Contact,
    Conversation,
    ConversationKind,
    Direction,
    Message,
    SendStatus,
)
from templates_app import selectors
from templates_app.models import SavedReply

pytestmark = pytest.mark.django_db

_mids = count(1)
BODY = "Bonjour {{ contact.first_name }}, nous ouvrons {{ page.next_opening }}.\n— {{ agent.first_name }}"


def make(page=None, owner=None, shortcut="horaires", title="Opening hours", body=BODY, language="fr", **extra):
    return SavedReply.objects.create(page=page, owner=owner, shortcut=shortcut, title=title, body=body,
                                     language=language, **extra)


@pytest.fixture
def conversation(page):
    contact = Contact.objects.create(page=page, external_id="psid-1", first_name="Marie")
    return Conversation.objects.create(page=page, kind=ConversationKind.PRIVATE, contact=contact)


def use(conversation, saved_reply, when, *, unedited=False, status=SendStatus.SENT):
    return Message.objects.create(
        page=conversation.page, conversation=conversation, direction=Direction.OUTBOUND, channel=Channel.MESSENGER,
        timestamp=when, text="…", send_status=status, saved_reply=saved_reply, is_unedited_saved_reply=unedited,
        mid=f"m{next(_mids)}",
    )


def form_data(page=None, **overrides):
    data = {"title": "Opening hours", "shortcut": "/Horaires", "body": BODY, "language": "fr", "tags": "Shop, hours",
            "scope": str(page.pk) if page else "personal"}
    data.update(overrides)
    return data


# --- The list -------------------------------------------------------------------------------


def test_it_sends_a_member_to_the_first_pages_list(client, page, bob):
    client.force_login(bob)
    response = client.get("/saved-replies/")
    assert response.status_code == 302 and response["Location"] == f"/saved-replies/page/{page.pk}/"


def test_it_shows_usage_figures_beside_each_saved_reply(client, page, alice, conversation):
    now = timezone.now()
    hours = make(page=page)
    use(conversation, hours, now - timedelta(days=1), unedited=True)
    use(conversation, hours, now - timedelta(days=6))
    use(conversation, hours, now - timedelta(days=20), unedited=True)
    use(conversation, hours, now - timedelta(days=2), status=SendStatus.FAILED)  # never reached anyone
    use(conversation, hours, now - timedelta(days=45))
    client.force_login(alice)
    response = client.get(f"/saved-replies/page/{page.pk}/")
    row = response.context["rows"][0]
    assert (row.usage.sent_7d, row.usage.sent_30d, row.usage.unedited_30d) == (2, 3, 2)
    assert row.usage.unedited_percent == 66
    assert abs(row.usage.last_used_at - (now - timedelta(days=1))) < timedelta(seconds=1)
    html = response.content.decode()
    assert "/horaires" in html and "66 %" in html


def test_it_surfaces_saved_replies_unused_for_90_days(client, page, alice, conversation):
    now = timezone.now()
    long_ago = now - timedelta(days=120)
    never_used = make(page=page, shortcut="never")
    used_95_days_ago = make(page=page, shortcut="old")
    used_lately = make(page=page, shortcut="fresh")
    new_one = make(page=page, shortcut="new")
    SavedReply.objects.filter(pk__in=[never_used.pk, used_95_days_ago.pk, used_lately.pk]).update(created_at=long_ago)
    use(conversation, used_95_days_ago, now - timedelta(days=95))
    use(conversation, used_lately, now - timedelta(days=89))
    client.force_login(alice)
    response = client.get(f"/saved-replies/page/{page.pk}/")
    assert response.context["counts"] == {"live": 4, "stale": 2, "archived": 0}
    assert "2 saved replies have not been used for 90 days." in response.content.decode() or \
        "90" in response.content.decode()
    stale = client.get(f"/saved-replies/page/{page.pk}/", {"status": "stale"})
    assert [r.saved_reply.shortcut for r in stale.context["rows"]] == ["never", "old"]
    assert all(r.is_stale for r in stale.context["rows"])
    assert new_one.pk not in [r.saved_reply.pk for r in stale.context["rows"]]


def test_it_searches_shortcuts_titles_bodies_and_tags(client, page, bob):
    make(page=page, shortcut="horaires", title="Opening hours", body="Nous ouvrons à 8 h.")
    make(page=page, shortcut="retours", title="Returns", body="Retour gratuit sous 30 jours.", tags="sav")
    make(page=page, shortcut="livraison", title="Delivery", body="En 48 h.")
    client.force_login(bob)

    def found(q):
        response = client.get(f"/saved-replies/page/{page.pk}/", {"q": q})
        return [r.saved_reply.shortcut for r in response.context["rows"]]

    assert found("/hor") == ["horaires"]
    assert found("returns") == ["retours"]
    assert found("48 h") == ["livraison"]
    assert found("SAV") == ["retours"]


def test_it_answers_a_search_as_you_type_with_the_results_only(client, page, bob):
    make(page=page)
    client.force_login(bob)
    response = client.get(f"/saved-replies/page/{page.pk}/", {"q": "hor"}, HTTP_HX_REQUEST="true",
                          HTTP_HX_TARGET="saved-reply-results")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="saved-reply-results"') and "<html" not in html


def test_it_pages_through_a_long_list_without_offset(client, page, alice):
    SavedReply.objects.bulk_create(
        [SavedReply(page=page, shortcut=f"r{i:03d}", title=f"Reply {i}", body="Bonjour") for i in range(55)]
    )
    client.force_login(alice)
    first = client.get(f"/saved-replies/page/{page.pk}/")
    assert len(first.context["rows"]) == 50 and first.context["next_cursor"]
    more = client.get(f"/saved-replies/page/{page.pk}/", {"after": first.context["next_cursor"]},
                      HTTP_HX_REQUEST="true")
    assert [r.saved_reply.shortcut for r in more.context["rows"]] == [f"r{i:03d}" for i in range(50, 55)]
    assert more.context["next_cursor"] is None
    assert "<html" not in more.content.decode()
    assert client.get(f"/saved-replies/page/{page.pk}/", {"after": "garbage!"}).status_code == 404


def test_it_lists_the_page_in_a_bounded_number_of_queries(client, page, alice, conversation,
                                                          django_assert_max_num_queries):
    for i in range(30):
        use(conversation, make(page=page, shortcut=f"s{i}"), timezone.now() - timedelta(days=i))
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        client.get(f"/saved-replies/page/{page.pk}/")


def test_it_tells_an_agent_the_admins_manage_a_pages_saved_replies(client, page, bob):
    make(page=page)
    client.force_login(bob)
    html = client.get(f"/saved-replies/page/{page.pk}/").content.decode()
    assert "/new/" not in html and "/archive/" not in html and "/edit/" not in html
    assert "/duplicate/" in html


# --- Create and edit -------------------------------------------------------------------------


def test_it_creates_a_pages_saved_reply(client, page, alice):
    client.force_login(alice)
    response = client.post(f"/saved-replies/page/{page.pk}/new/", form_data(page))
    assert response.status_code == 302 and response["Location"] == f"/saved-replies/page/{page.pk}/"
    saved_reply = SavedReply.objects.get()
    assert (saved_reply.page, saved_reply.owner, saved_reply.shortcut) == (page, None, "horaires")
    assert saved_reply.tags == "shop, hours" and saved_reply.created_by == alice


def test_it_flags_a_typo_in_a_variable_before_saving(client, page, alice):
    client.force_login(alice)
    response = client.post(f"/saved-replies/page/{page.pk}/new/",
                           form_data(page, body="Bonjour {{ contact.firstname }} !"))
    assert response.status_code == 400
    assert SavedReply.objects.count() == 0
    html = response.content.decode()
    assert "contact.firstname" in html and "contact.first_name" in html


def test_it_refuses_a_shortcut_taken_in_the_same_language(client, page, alice):
    make(page=page, shortcut="horaires", language="fr")
    client.force_login(alice)
    assert client.post(f"/saved-replies/page/{page.pk}/new/", form_data(page)).status_code == 400
    response = client.post(f"/saved-replies/page/{page.pk}/new/", form_data(page, language="en"))
    assert response.status_code == 302
    assert SavedReply.objects.filter(shortcut="horaires").count() == 2


def test_it_lets_an_agent_create_personal_saved_replies_only(client, page, bob):
    client.force_login(bob)
    assert client.get(f"/saved-replies/page/{page.pk}/new/").status_code == 404
    assert client.post(f"/saved-replies/page/{page.pk}/new/", form_data(page)).status_code == 404
    # Choosing the Page from the personal form is not possible either.
    assert client.post("/saved-replies/personal/new/", form_data(page)).status_code == 400
    response = client.post("/saved-replies/personal/new/", form_data())
    assert response.status_code == 302
    saved_reply = SavedReply.objects.get()
    assert (saved_reply.page, saved_reply.owner) == (None, bob)


def test_it_edits_a_saved_reply_and_can_share_a_personal_one_with_a_page(client, page, alice):
    mine = make(owner=alice)
    client.force_login(alice)
    response = client.get(f"/saved-replies/{mine.pk}/edit/")
    assert response.status_code == 200 and "Bonjour Camille" in response.content.decode()
    response = client.post(f"/saved-replies/{mine.pk}/edit/", form_data(page, title="Hours (shop)"))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.title, mine.page, mine.owner) == ("Hours (shop)", page, None)


def test_it_keeps_an_agent_out_of_the_pages_saved_replies_and_others_personal_ones(client, page, alice, bob):
    pages_own, alices_own = make(page=page), make(owner=alice, shortcut="mine")
    client.force_login(bob)
    for saved_reply in (pages_own, alices_own):
        assert client.get(f"/saved-replies/{saved_reply.pk}/edit/").status_code == 404
        assert client.post(f"/saved-replies/{saved_reply.pk}/archive/").status_code == 404
    assert client.post(f"/saved-replies/{alices_own.pk}/duplicate/").status_code == 404
    assert SavedReply.objects.filter(archived_at__isnull=False).count() == 0


# --- Archive, restore, duplicate -------------------------------------------------------------


def test_it_archives_out_of_the_picker_and_restores(client, page, alice, bob):
    hours = make(page=page)
    client.force_login(alice)
    assert client.post(f"/saved-replies/{hours.pk}/archive/").status_code == 302
    hours.refresh_from_db()
    assert hours.archived_at is not None
    assert selectors.picker(page=page, agent=bob, query="hor") == []
    assert client.post(f"/saved-replies/{hours.pk}/restore/").status_code == 302
    hours.refresh_from_db()
    assert hours.archived_at is None


def test_it_does_not_restore_over_a_live_shortcut(client, page, alice):
    old = make(page=page, archived_at=timezone.now())
    make(page=page)
    client.force_login(alice)
    client.post(f"/saved-replies/{old.pk}/restore/")
    old.refresh_from_db()
    assert old.archived_at is not None


def test_it_duplicates_in_the_same_scope_for_an_admin(client, page, alice):
    hours = make(page=page)
    client.force_login(alice)
    response = client.post(f"/saved-replies/{hours.pk}/duplicate/")
    copy = SavedReply.objects.exclude(pk=hours.pk).get()
    assert response["Location"] == f"/saved-replies/{copy.pk}/edit/"
    assert (copy.page, copy.shortcut, copy.title, copy.body) == (page, "horaires-2", "Opening hours (copy)", BODY)


def test_it_duplicates_into_personal_replies_for_an_agent(client, page, bob):
    hours = make(page=page)
    client.force_login(bob)
    client.post(f"/saved-replies/{hours.pk}/duplicate/")
    copy = SavedReply.objects.exclude(pk=hours.pk).get()
    assert (copy.page, copy.owner, copy.shortcut, copy.title) == (None, bob, "horaires", "Opening hours")


# --- Live preview ----------------------------------------------------------------------------


def test_it_previews_for_a_sample_contact_and_flags_unknown_variables(client, page, alice):
    client.force_login(alice)
    response = client.post("/saved-replies/preview/", {
        "body": "Bonjour {{ contact.first_name }} <b>!</b>\n— {{ agent.first_name }} {{ agent.firstname }}",
        "language": "fr", "scope": str(page.pk),
    }, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Bonjour Camille &lt;b&gt;!&lt;/b&gt;\n— Alice" in html
    assert "agent.firstname" in html and "agent.first_name" in html
    assert "<html" not in html


def test_it_previews_a_personal_saved_reply_with_the_users_first_page(client, page, bob):
    client.force_login(bob)
    response = client.post("/saved-replies/preview/", {"body": "{{ page.name }}", "scope": "personal"})
    assert "Boulangerie Dupain" in response.content.decode()


# --- CSV export and import -------------------------------------------------------------------


def test_it_exports_a_pages_saved_replies_as_csv(client, page, alice):
    make(page=page, tags="shop")
    make(page=page, shortcut="formula", title="Sums", body="=1+1 is not a formula")
    make(page=page, shortcut="gone", archived_at=timezone.now())
    client.force_login(alice)
    response = client.get(f"/saved-replies/page/{page.pk}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [r["shortcut"] for r in rows] == ["formula", "horaires"]
    assert rows[0]["body"] == "'=1+1 is not a formula"  # a spreadsheet must not run it
    assert rows[1]["body"] == BODY and rows[1]["tags"] == "shop"
    assert AuditLog.objects.filter(action="saved_replies_exported", page=page, actor=alice).exists()


def _upload(text: str, name: str = "replies.csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_it_imports_what_it_exports(client, page, other_page, alice, charlie):
    make(page=page, tags="shop")
    make(page=page, shortcut="formula", body="=1+1 is not a formula")
    client.force_login(alice)
    exported = client.get(f"/saved-replies/page/{page.pk}/export.csv").content
    client.force_login(charlie)
    response = client.post(f"/saved-replies/page/{other_page.pk}/import/", {
        "file": SimpleUploadedFile("x.csv", exported, content_type="text/csv"), "language": "fr"})
    assert response.status_code == 302
    copies = {s.shortcut: s for s in SavedReply.objects.filter(page=other_page)}
    assert copies["formula"].body == "=1+1 is not a formula"
    assert copies["horaires"].body == BODY and copies["horaires"].tags == "shop"


def test_it_imports_semicolon_csv_creating_and_updating(client, page, alice):
    existing = make(page=page, shortcut="horaires", body="Ancien texte")
    client.force_login(alice)
    text = ("shortcut;title;language;body\n"
            "horaires;Opening hours;fr;Nous ouvrons à 8 h, {{ contact.first_name }}.\n"
            "retours;Returns;;Retour gratuit.\n")
    response = client.post(f"/saved-replies/page/{page.pk}/import/", {"file": _upload(text), "language": "en"})
    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.body == "Nous ouvrons à 8 h, {{ contact.first_name }}."
    assert SavedReply.objects.get(shortcut="retours").language == "en"
    assert AuditLog.objects.get(action="saved_replies_imported").data["created"] == 1


def test_it_imports_nothing_when_one_row_is_wrong_and_says_which(client, page, alice):
    client.force_login(alice)
    text = ("shortcut,title,language,tags,body\n"
            "horaires,Opening hours,fr,,Nous ouvrons à 8 h.\n"
            "retours,Returns,fr,,Bonjour {{ contact.firstname }}\n"
            ",No shortcut,fr,,Texte\n"
            "horaires,Again,fr,,Doublon\n"
            "klingon,Bad language,tlh,,Qapla'\n")
    response = client.post(f"/saved-replies/page/{page.pk}/import/", {"file": _upload(text), "language": "fr"})
    assert response.status_code == 400
    assert SavedReply.objects.count() == 0
    errors = response.context["errors"]
    assert any(e.startswith("Row 3") and "contact.first_name" in e for e in errors)
    assert any(e.startswith("Row 4") for e in errors)
    assert any(e.startswith("Row 5") and "row 2" in e for e in errors)
    assert any(e.startswith("Row 6") for e in errors)
    assert not any(e.startswith("Row 2") for e in errors)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"title,body\nHours,Text\n", "Missing column"),
    (b"\xff\xfe\x00\x00garbage", "not text"),
])
def test_it_refuses_a_file_that_is_not_the_expected_csv(client, page, alice, content, message):
    client.force_login(alice)
    response = client.post(f"/saved-replies/page/{page.pk}/import/", {
        "file": SimpleUploadedFile("x.csv", content or b" ", content_type="text/csv"), "language": "fr"})
    assert response.status_code == 400
    assert message.lower() in " ".join(response.context["errors"]).lower()


# --- Who may see what ------------------------------------------------------------------------


def test_it_requires_signing_in(client, page):
    response = client.get(f"/saved-replies/page/{page.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("method, path", [
    ("get", "/saved-replies/page/{p}/"),
    ("get", "/saved-replies/page/{p}/new/"),
    ("post", "/saved-replies/page/{p}/new/"),
    ("get", "/saved-replies/{s}/edit/"),
    ("post", "/saved-replies/{s}/edit/"),
    ("post", "/saved-replies/{s}/archive/"),
    ("post", "/saved-replies/{s}/restore/"),
    ("post", "/saved-replies/{s}/duplicate/"),
    ("get", "/saved-replies/page/{p}/import/"),
    ("post", "/saved-replies/page/{p}/import/"),
    ("get", "/saved-replies/page/{p}/export.csv"),
    ("post", "/saved-replies/preview/?scope={p}"),
])
def test_it_shows_outsiders_a_404(client, page, alice, charlie, method, path):
    saved_reply = make(page=page)
    client.force_login(charlie)
    url = path.format(p=page.pk, s=saved_reply.pk)
    if method == "post" and "preview" in url:
        response = client.post("/saved-replies/preview/", {"body": "x", "scope": str(page.pk)})
    else:
        response = getattr(client, method)(url)
    assert response.status_code == 404
    assert SavedReply.objects.count() == 1 and SavedReply.objects.get().archived_at is None


def test_it_never_shows_someone_elses_personal_saved_replies(client, page, alice, bob):
    make(owner=alice, shortcut="alices-secret")
    client.force_login(bob)
    assert "alices-secret" not in client.get("/saved-replies/personal/").content.decode()
    assert "alices-secret" not in client.get(f"/saved-replies/page/{page.pk}/").content.decode()


@pytest.mark.parametrize("encoded", [
    "shortcut;title;body\r\nété;Summer;Fermé en août\r\n".encode("cp1252"),  # an older Excel's "CSV (Windows)"
    "shortcut\ttitle\tbody\nété\tSummer\tFermé en août\n".encode("utf-16"),  # Excel's "Unicode text"
])
def test_it_reads_the_files_spreadsheets_save(client, page, alice, encoded):
    client.force_login(alice)
    response = client.post(f"/saved-replies/page/{page.pk}/import/", {
        "file": SimpleUploadedFile("x.csv", encoded, content_type="text/csv"), "language": "fr"})
    assert response.status_code == 302
    saved_reply = SavedReply.objects.get()
    assert (saved_reply.shortcut, saved_reply.body) == ("été", "Fermé en août")


# --- A Page's composer thresholds ------------------------------------------------------------


def test_it_lets_an_admin_tune_the_pages_composer_thresholds(client, page, alice):
    client.force_login(alice)
    assert client.get(f"/saved-replies/page/{page.pk}/guidance/").status_code == 200
    response = client.post(f"/saved-replies/page/{page.pk}/guidance/", {
        "hot_template_threshold": "15", "agent_reliance_percent": "40", "public_repeat_threshold": "3",
        "order_number_pattern": r"CMD-\d{6}",
    })
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.hot_template_threshold, page.agent_reliance_permille, page.public_repeat_threshold) == (15, 400, 3)
    assert page.signature_required is False and page.order_number_pattern == r"CMD-\d{6}"
    assert AuditLog.objects.get(action="composer_guidance_changed").data["before"]["hot_template_threshold"] == 10


def test_it_refuses_an_order_pattern_that_could_hang(client, page, alice):
    client.force_login(alice)
    response = client.post(f"/saved-replies/page/{page.pk}/guidance/", {
        "hot_template_threshold": "10", "agent_reliance_percent": "30", "public_repeat_threshold": "2",
        "signature_required": "on", "order_number_pattern": r"(\d+)+",
    })
    assert response.status_code == 400 and "nested repetition" in response.content.decode()
    page.refresh_from_db()
    assert page.order_number_pattern == ""


@pytest.mark.parametrize("user", ["bob", "charlie"])
def test_it_keeps_agents_and_outsiders_out_of_the_thresholds(client, page, bob, charlie, user):
    client.force_login({"bob": bob, "charlie": charlie}[user])
    assert client.get(f"/saved-replies/page/{page.pk}/guidance/").status_code == 404
    assert client.post(f"/saved-replies/page/{page.pk}/guidance/", {"hot_template_threshold": "2"}).status_code == 404
