"""Company pages: list, detail with hierarchy and people, create/edit/delete."""

import re

import pytest
from django.utils import timezone
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity
from companies.models import Company
from contacts.models import Contact, ContactCompany

from .conftest import body, make_contact

pytestmark = pytest.mark.django_db


def listed(response):
    return [int(pk) for pk in re.findall(r'class="person-name row-link" href="/companies/(\d+)/"', body(response))]


def company_data(**overrides):
    data = {"name": "Hooli", "domain": "hooli.test", "size_band": "", "country": "us"}
    data.update(overrides)
    return data


def test_list_is_org_wide_and_name_ordered(client, world):
    b = Company.objects.create(organization=world.org, name="Beta Corp")
    a = Company.objects.create(organization=world.org, name="Alpha Inc")
    Company.objects.create(organization=world.other_org, name="Aardvark Foreign")
    for who in ("alice", "viewer_a", "rita"):
        client.force_login(getattr(world, who))
        response = client.get("/companies/")
        assert response.status_code == 200
        assert listed(response) == [a.pk, b.pk]
    client.force_login(world.alice)
    assert listed(client.get("/companies/", {"ordering": "-created"})) == [a.pk, b.pk]  # a was added last


def test_list_search_and_htmx_partial(client, world):
    a = Company.objects.create(organization=world.org, name="Alpha Inc")
    Company.objects.create(organization=world.org, name="Beta Corp")
    client.force_login(world.alice)
    response = client.get("/companies/", {"q": "alp"}, HTTP_HX_REQUEST="true")
    assert listed(response) == [a.pk] and "<html" not in body(response)
    assert "No company name starts with" in body(client.get("/companies/", {"q": "zz"}))


def test_list_keyset_walk_and_constant_queries(client, world):
    ids = {Company.objects.create(organization=world.org, name=f"Co {i % 7}", owner=world.alice).pk
           for i in range(105)}
    client.force_login(world.alice)
    seen, query = [], "per_page=25"
    while True:
        response = client.get("/companies/?" + query)
        seen += listed(response)
        match = re.search(r'rel="next" href="\?([^"]+)"', body(response))
        if not match:
            break
        query = match.group(1).replace("&amp;", "&")
    assert len(seen) == len(set(seen)) == 105 and set(seen) == ids
    counts = []
    for size in (25, 100):
        with CaptureQueriesContext(connection) as ctx:
            assert len(listed(client.get("/companies/", {"per_page": size}))) == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1] and counts[0] <= 8, counts
    assert client.get("/companies/", {"cursor": "x"}).status_code == 400


def test_detail_shows_hierarchy_people_and_activities(client, world, alices_contact, ritas_contact):
    parent = Company.objects.create(organization=world.org, name="Mega Holding")
    company = Company.objects.create(organization=world.org, name="Initech", parent=parent, industry="Software")
    Company.objects.create(organization=world.org, name="Initech Labs", parent=company)
    ContactCompany.objects.create(organization=world.org, contact=alices_contact, company=company, role="CTO",
                                  decision_role="champion", is_primary=True)
    ContactCompany.objects.create(organization=world.org, contact=ritas_contact, company=company, role="CFO")
    Activity.objects.create(organization=world.org, company=company, type="meeting_held", subject="Kickoff")
    Activity.objects.create(organization=world.org, company=company, contact=ritas_contact, type="call",
                            subject="Rita's private call")
    client.force_login(world.alice)
    response = client.get(f"/companies/{company.pk}/")
    assert response.status_code == 200
    page = body(response)
    for text in ["Initech", "Mega Holding", "Initech Labs", "Ann Alpha", "CTO", "Champion", "Kickoff", "Software"]:
        assert text in page, text
    # Contacts (and their activities) alice may not see are left out.
    assert "Rob Beta" not in page and "CFO" not in page and "Rita&#x27;s private call" not in page
    client.force_login(world.rita)
    page = body(client.get(f"/companies/{company.pk}/"))
    assert "Rob Beta" in page and "Ann Alpha" not in page


def test_detail_query_count_is_bounded(client, world):
    company = Company.objects.create(organization=world.org, name="Initech")
    client.force_login(world.admin)
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/companies/{company.pk}/")
    few = len(ctx.captured_queries)
    for i in range(15):
        c = make_contact(world, f"P{i}", owner=world.alice)
        ContactCompany.objects.create(organization=world.org, contact=c, company=company)
        Activity.objects.create(organization=world.org, company=company, contact=c, type="note")
        Company.objects.create(organization=world.org, name=f"Sub {i}", parent=company)
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/companies/{company.pk}/")
    assert len(ctx.captured_queries) == few and few <= 15, few


def test_detail_other_organization_is_404(client, world):
    company = Company.objects.create(organization=world.other_org, name="Globex Inc")
    client.force_login(world.admin)
    assert client.get(f"/companies/{company.pk}/").status_code == 404
    client.force_login(world.charlie)
    assert client.get(f"/companies/{company.pk}/").status_code == 200


def test_create_company(client, world):
    client.force_login(world.alice)
    assert client.get("/companies/new/").status_code == 200
    response = client.post("/companies/new/", company_data(domain="https://www.Hooli.test/about",
                                                            owner=world.alice.pk))
    company = Company.objects.get(name="Hooli")
    assert response.status_code == 302 and response["Location"] == f"/companies/{company.pk}/"
    assert company.domain == "hooli.test" and company.country == "US" and company.owner == world.alice
    assert company.organization == world.org and company.created_by == world.alice


@pytest.mark.parametrize("data, field, message", [
    ({"domain": "not a domain"}, "domain", "Enter a domain such as example.com"),
    ({"founded_year": "1200"}, "founded_year", "greater than or equal to 1600"),
    ({"currency": "dollars"}, "currency", "Ensure this value has at most 3 characters"),
    ({"name": ""}, "name", "This field is required."),
])
def test_create_errors_name_the_field(client, world, data, field, message):
    client.force_login(world.alice)
    response = client.post("/companies/new/", company_data(owner=world.alice.pk, **data))
    assert response.status_code == 400
    block = body(response).split(f'name="{field}"')[1].split('<div class="field')[0]
    assert message in block


def test_duplicate_domain_is_reported_on_domain(client, world, company):
    client.force_login(world.manager_a)
    response = client.post("/companies/new/", company_data(domain="INITECH.test"))
    block = body(response).split('name="domain"')[1].split('<div class="field')[0]
    assert "A company with this domain already exists in your organization." in block


def test_hierarchy_cycle_is_reported_on_parent(client, world):
    top = Company.objects.create(organization=world.org, name="Top")
    middle = Company.objects.create(organization=world.org, name="Middle", parent=top)
    bottom = Company.objects.create(organization=world.org, name="Bottom", parent=middle)
    client.force_login(world.admin)
    response = client.post(f"/companies/{top.pk}/edit/", company_data(name="Top", domain="", parent=bottom.pk))
    assert response.status_code == 400
    block = body(response).split('name="parent"')[1].split('<div class="field')[0]
    assert "This parent would create a cycle in the company hierarchy." in block
    assert Company.objects.get(pk=top.pk).parent is None
    # The picker shows the chosen parent, not every company of the organization.
    assert "Bottom" in block and "Middle" not in block
    foreign = Company.objects.create(organization=world.other_org, name="Foreign")
    response = client.post(f"/companies/{top.pk}/edit/", company_data(name="Top", domain="", parent=foreign.pk))
    assert "Select a valid choice" in body(response)


def test_edit_company(client, world, company):
    client.force_login(world.alice)  # the owner
    response = client.post(f"/companies/{company.pk}/edit/", company_data(name="Initech Global",
                                                                          domain="initech.test",
                                                                          owner=world.alice.pk))
    assert response.status_code == 302
    assert Company.objects.get(pk=company.pk).name == "Initech Global"


@pytest.mark.parametrize("who, status", [
    ("admin", 200), ("manager_a", 200), ("manager_b", 200), ("alice", 200),  # alice owns it
    ("bob", 403), ("rita", 403), ("viewer_a", 403), ("charlie", 404), ("other_rep", 404),
])
def test_change_and_delete_permissions(client, world, company, who, status):
    client.force_login(getattr(world, who))
    assert client.get(f"/companies/{company.pk}/edit/").status_code == status
    assert client.get(f"/companies/{company.pk}/delete/").status_code == status
    if status != 200:
        assert client.post(f"/companies/{company.pk}/edit/", company_data()).status_code == status
        assert client.post(f"/companies/{company.pk}/delete/").status_code == status
        assert Company.objects.filter(pk=company.pk, name="Initech").exists()


def test_viewer_cannot_create_company(client, world):
    client.force_login(world.viewer_a)
    assert client.get("/companies/new/").status_code == 403
    assert client.post("/companies/new/", company_data()).status_code == 403
    assert not Company.objects.filter(name="Hooli").exists()


def test_delete_moves_company_to_trash_and_restore_brings_everything_back(client, world, alices_contact, company):
    from activities.models import Activity

    ContactCompany.objects.create(organization=world.org, contact=alices_contact, company=company, is_primary=True)
    child = Company.objects.create(organization=world.org, name="Initech Labs", parent=company)
    note = Activity.objects.create(organization=world.org, company=company, type="note", subject="Kickoff")
    assert Contact.objects.get(pk=alices_contact.pk).company_name == "Initech"
    client.force_login(world.manager_a)
    confirm = body(client.get(f"/companies/{company.pk}/delete/"))
    assert "1 contact link" in confirm and "restore it from the trash" in confirm
    response = client.post(f"/companies/{company.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/companies/" and "Moved Initech to the trash." in body(response)
    # Hidden everywhere: the company, its links, its timeline; the contact shows no company.
    assert not Company.objects.filter(pk=company.pk).exists()
    assert client.get(f"/companies/{company.pk}/").status_code == 404
    assert Contact.objects.get(pk=alices_contact.pk).company_name == ""
    assert "Initech</a>" not in body(client.get(f"/contacts/{alices_contact.pk}/"))
    assert not Activity.objects.visible_to(world.manager_a).filter(pk=note.pk).exists()
    assert not ContactCompany.objects.visible_to(world.manager_a).filter(company=company).exists()
    assert "Initech Labs" in body(client.get(f"/companies/{child.pk}/"))
    # The trash lists it; restoring brings links, name and timeline back.
    trash = body(client.get("/companies/trash/"))
    assert "Initech" in trash and f"/companies/{company.pk}/restore/" in trash
    response = client.post(f"/companies/{company.pk}/restore/", follow=True)
    assert response.redirect_chain[-1][0] == f"/companies/{company.pk}/" and "Restored Initech." in body(response)
    assert Contact.objects.get(pk=alices_contact.pk).company_name == "Initech"
    assert Activity.objects.visible_to(world.manager_a).filter(pk=note.pk).exists()
    assert Company.objects.get(pk=child.pk).parent_id == company.pk


def test_restore_fails_naming_the_domain_a_live_company_took(client, world, company):
    client.force_login(world.admin)
    client.post(f"/companies/{company.pk}/delete/")
    Company.objects.create(organization=world.org, name="Initech 2", domain="initech.test")
    response = client.post(f"/companies/{company.pk}/restore/", follow=True)
    assert "Could not restore Initech" in body(response) and "domain already exists" in body(response)
    assert Company.all_objects.get(pk=company.pk).deleted_at is not None


@pytest.mark.parametrize("who, status", [("alice", 200), ("rita", 403), ("viewer_a", 403), ("charlie", 404)])
def test_trash_and_restore_permissions(client, world, company, who, status):
    """Alice owns the company; rita (rep, not owner) and the viewer may not restore it; another
    organization doesn't see it at all."""
    Company.objects.filter(pk=company.pk).update(deleted_at=timezone.now())
    client.force_login(getattr(world, who))
    response = client.post(f"/companies/{company.pk}/restore/")
    assert response.status_code == (302 if status == 200 else status)
    assert (Company.objects.filter(pk=company.pk).exists()) == (status == 200)
    trash = body(client.get("/companies/trash/"))
    assert ("Initech" in trash) == (who != "charlie")  # companies are the whole organization's


def test_trash_query_count_is_constant(client, world, django_assert_max_num_queries):
    client.force_login(world.admin)
    for i in range(3):
        Company.objects.create(organization=world.org, name=f"Gone {i}", owner=world.alice, deleted_at=timezone.now())
    with django_assert_max_num_queries(12) as few:
        client.get("/companies/trash/")
    for i in range(3, 30):
        Company.objects.create(organization=world.org, name=f"Gone {i}", owner=world.alice, deleted_at=timezone.now())
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/companies/trash/")


def test_anonymous_redirects(client, world, company):
    for url in ("/companies/", f"/companies/{company.pk}/", "/companies/new/", f"/companies/{company.pk}/edit/",
                "/companies/options/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_company_picker_options(client, world, company):
    Company.objects.create(organization=world.org, name="Initrode")
    Company.objects.create(organization=world.other_org, name="Initial Foreign")
    client.force_login(world.viewer_a)
    response = client.get("/companies/options/", {"q": "init"}, HTTP_HX_REQUEST="true")
    page = body(response)
    assert "Initech" in page and "Initrode" in page and "Foreign" not in page
    assert page.count("<option") == 3


def test_company_search_is_accent_insensitive_prefix(client, world):
    Company.objects.create(organization=world.org, name="Ærø Shipping", domain="aero.test")
    Company.objects.create(organization=world.org, name="Other")
    client.force_login(world.alice)
    body = client.get("/companies/", {"q": "aero"}).content.decode()
    assert "Ærø Shipping" in body and "Other" not in body
    body = client.get("/companies/options/", {"q": "AERO"}).content.decode()
    assert "Ærø Shipping" in body


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_company_inline_edit_round_trip(client, world, company):
    client.force_login(world.alice)  # the owner
    url = f"/companies/{company.pk}/field/industry/"
    form = client.get(url, {"edit": "1"}, **HTMX)
    assert form.status_code == 200 and 'name="inline-industry-industry"' in body(form) and "<html" not in body(form)
    saved = client.post(url, {"inline-industry-industry": "Fintech"}, **HTMX)
    assert saved.status_code == 200 and "Fintech" in body(saved) and "<form" not in body(saved)
    assert Company.objects.get(pk=company.pk).industry == "Fintech"
    renamed = client.post(f"/companies/{company.pk}/field/name/", {"inline-name-name": "Initech Global"}, **HTMX)
    assert 'id="company-title" hx-swap-oob="true">Initech Global<' in body(renamed)
    # Custom fields and other columns are untouched by a one-field save.
    assert Company.objects.get(pk=company.pk).domain == "initech.test"


def test_company_inline_edit_errors_store_nothing(client, world, company):
    Company.objects.create(organization=world.org, name="Other", domain="taken.test")
    client.force_login(world.alice)
    response = client.post(f"/companies/{company.pk}/field/domain/", {"inline-domain-domain": "taken.test"}, **HTMX)
    assert "A company with this domain already exists" in body(response) and "<form" in body(response)
    response = client.post(f"/companies/{company.pk}/field/founded_year/", {"inline-founded_year-founded_year": "1200"},
                           **HTMX)
    assert "greater than or equal to 1600" in body(response)
    response = client.post(f"/companies/{company.pk}/field/owner/", {"inline-owner-owner": world.other_rep.pk},
                           **HTMX)
    assert "Select a valid choice" in body(response)
    stored = Company.objects.get(pk=company.pk)
    assert (stored.domain, stored.founded_year, stored.owner_id) == ("initech.test", None, world.alice.pk)
    assert client.get(f"/companies/{company.pk}/field/custom_fields/", **HTMX).status_code == 404


@pytest.mark.parametrize("who, read, write", [("alice", 200, 200), ("manager_b", 200, 200), ("rita", 200, 403),
                                               ("viewer_a", 200, 403), ("charlie", 404, 404)])
def test_company_inline_edit_permissions(client, world, company, who, read, write):
    client.force_login(getattr(world, who))
    url = f"/companies/{company.pk}/field/industry/"
    assert client.get(url, **HTMX).status_code == read
    assert client.get(url, {"edit": 1}, **HTMX).status_code == write
    assert client.post(url, {"inline-industry-industry": "Hacked"}, **HTMX).status_code == write
    assert (Company.objects.get(pk=company.pk).industry == "Hacked") == (write == 200)


def test_company_detail_shows_editable_fields_only_to_writers(client, world, company):
    client.force_login(world.alice)
    assert f'hx-get="/companies/{company.pk}/field/industry/?edit=1"' in body(client.get(f"/companies/{company.pk}/"))
    client.force_login(world.rita)
    assert "field/industry/?edit=1" not in body(client.get(f"/companies/{company.pk}/"))
