"""Company pages. Companies are organization-wide reference data: every member sees
them; admins, managers and the owner change them (Company.visibility_q)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from activities.models import Activity
from activities.views import timeline_context
from companies.forms import CompanyForm
from companies.filters import search_prefix
from companies.models import Company
from companies.services import delete_company, restore_company
from contacts.merge import merged_survivor
from contacts.models import Contact, ContactCompany
from crm.audit import describe_history
from crm.custom_fields import definitions_for
from crm.forms import display_custom_value
from crm.pages import (
    KeysetListView, TrashView, form_page, get_visible_or_404, inline_context, inline_edit, require_writer,
    restore_page,
)
from crm.pagination import SortKey

CONTACTS_SHOWN = 100
CHILDREN_SHOWN = 50
ANCESTORS_SHOWN = 10


class CompanyListView(KeysetListView):
    template_name = "companies/list.html"
    results_template_name = "companies/_results.html"
    namespace = "companies"
    default_ordering = "name"
    orderings = {"name": SortKey("name"), "-created": SortKey("created_at", True)}
    ordering_labels = {"name": "Name A–Z", "-created": "Newest first"}

    def get_queryset(self):
        return Company.objects.visible_to(self.request.user).select_related("owner", "parent")

    def filter_queryset(self, queryset):
        q = self.request.GET.get("q", "").strip()
        return search_prefix(queryset, q)

    def get_context_data(self, context):
        return {"q": self.request.GET.get("q", "")}


@login_required
@require_safe
def company_detail(request, pk):
    user = request.user
    try:
        company = get_visible_or_404(user, Company.objects.select_related("parent", "owner", "created_by"), pk)
    except Http404:
        # A company merged into another one: its old links lead to the survivor.
        survivor = merged_survivor(user, Company, pk)
        if survivor is None:
            raise
        return redirect("companies:detail", pk=survivor)
    # The chain of parents, nearest first (one query per level, capped).
    ancestors, current = [], (company.parent if company.parent_id and not company.parent.is_deleted else None)
    while current is not None and len(ancestors) < ANCESTORS_SHOWN:
        ancestors.append(current)
        current = Company.objects.filter(pk=current.parent_id).first() if current.parent_id else None
    contact_links = list(
        ContactCompany.objects.filter(company=company, contact__in=Contact.objects.visible_to(user).values("pk"))
        .select_related("contact", "contact__owner").order_by("-is_primary", "contact__search_name")
        [:CONTACTS_SHOWN + 1])
    definitions = definitions_for(company.organization_id, "company")
    custom_values = []
    for definition in definitions:
        value = (company.custom_fields or {}).get(definition.key)
        custom_values.append({"label": definition.label, "value": display_custom_value(definition, value),
                              "type": definition.field_type})
    return render(request, "companies/detail.html", {
        "company": company,
        "ancestors": list(reversed(ancestors)),
        "children": list(company.children.order_by("name")[:CHILDREN_SHOWN]),
        "children_limit": CHILDREN_SHOWN,
        "contact_links": contact_links[:CONTACTS_SHOWN],
        "more_contacts": len(contact_links) > CONTACTS_SHOWN,
        "custom_values": custom_values,
        # The timeline card: the company's and its contacts' activities and its changes.
        **timeline_context(request, company),
        "history": describe_history(company),
        "inline_fields": [inline_context(company, name, url_name="companies:inline", labels=INLINE_LABELS)
                          for name in INLINE_FIELDS],
    })


INLINE_FIELDS = ["name", "domain", "website", "phone", "industry", "size_band", "annual_revenue", "currency",
                 "founded_year", "timezone", "owner"]
INLINE_LABELS = {"size_band": "Employees", "annual_revenue": "Annual revenue", "timezone": "Time zone"}


@login_required
@require_http_methods(["GET", "POST"])
def company_inline(request, pk, field):
    """One field of the company, shown or edited in place (crm.pages.inline_edit)."""
    return inline_edit(request, Company.objects.select_related("owner"), pk, field, fields=INLINE_FIELDS,
                       form_class=CompanyForm, url_name="companies:inline", detail_url_name="companies:detail",
                       labels=INLINE_LABELS, oob_template="companies/_inline_oob.html")


@login_required
@require_http_methods(["GET", "POST"])
def company_create(request):
    require_writer(request.user)
    form = CompanyForm(request.POST or None, instance=Company(), user=request.user)
    return form_page(request, form, template="companies/form.html", context={"company": None},
                     detail="companies:detail", success="Added {obj}.")


@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request, pk):
    company = get_visible_or_404(request.user, Company.objects.all(), pk, "change")
    form = CompanyForm(request.POST or None, instance=company, user=request.user)
    return form_page(request, form, template="companies/form.html", context={"company": company},
                     detail="companies:detail", success="Saved {obj}.")


@login_required
@require_http_methods(["GET", "POST"])
def company_delete(request, pk):
    """GET: what moving the company to the trash hides with it; POST: move it there."""
    company = get_visible_or_404(request.user, Company.objects.all(), pk, "delete")
    if request.method == "POST":
        delete_company(company)
        messages.success(request, f"Moved {company} to the trash. You can restore it from the trash.")
        return redirect("companies:list")
    return render(request, "companies/confirm_delete.html", {
        "company": company,
        "links": ContactCompany.objects.filter(company=company).count(),
        "children": company.children.count(),
        "activities": Activity.objects.filter(company=company).count(),
    })


@login_required
@require_POST
def company_restore(request, pk):
    return restore_page(request, Company.all_objects.all(), pk, action="delete", service=restore_company,
                        trash_url="companies:trash", detail_url="companies:detail")


class CompanyTrashView(TrashView):
    namespace = "companies-trash"
    trash = {"title": "Companies", "noun": "companies", "page_noun": "deleted companies",
             "list_url": "companies:list", "restore_url": "companies:restore",
             "note": "Deleted companies stay here with their people, subsidiaries and timeline until they are "
                     "restored.",
             "empty_note": "Companies you delete land here, so a slip of the finger is easy to undo."}

    def get_queryset(self):
        return (Company.all_objects.visible_to(self.request.user).filter(deleted_at__isnull=False)
                .select_related("owner"))


@login_required
@require_GET
def company_options(request):
    """<option>s of companies whose name starts with ?q=, for the company pickers."""
    q = request.GET.get("q", "").strip()
    companies = Company.objects.visible_to(request.user)
    companies = search_prefix(companies, q)
    exclude = request.GET.get("exclude", "")
    if exclude.isdigit():
        companies = companies.exclude(pk=int(exclude))
    return render(request, "includes/company_options.html",
                  {"companies": list(companies.order_by("name", "id")[:20]), "q": q})
