"""Contact pages: list (filters, search as you type, keyset pages), detail with inline
editing, create/edit, trash. Every row comes through `visible_to`; writes go through
contacts.forms → contacts.services."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from activities.views import timeline_context
from contacts.bulk_views import bar_context
from contacts.merge import merged_survivor
from contacts.filters import CONTACT_ORDERINGS, ContactFilter, contact_sort_key, saved_view_for, validate_ordering
from contacts.forms import INLINE_FIELDS, ConsentForm, ContactForm, TagAddForm, prepare_filter_form
from contacts.models import (
    Channel, ConsentEvent, Contact, ContactRelationship, NotificationTopic, contact_custom_definitions,
)
from contacts.segment_views import saved_views_context
from contacts.services import restore_contact, set_tags, soft_delete_contact
from crm.audit import describe_history
from crm.forms import display_custom_value
from crm.models import Tag
from crm.pages import (
    KeysetListView, TrashView, form_page, get_visible_or_404, inline_context, inline_edit, require_writer,
    restore_page, wants_partial,
)
from crm.permissions import CHANGE, DELETE, Scope

HISTORY_LENGTH = 30


def _tags_prefetch():
    return Prefetch("tags", queryset=Tag.objects.order_by("name"))


class ContactListView(KeysetListView):
    template_name = "contacts/list.html"
    results_template_name = "contacts/_results.html"
    namespace = "contacts"
    default_ordering = "-created"
    orderings = {name: contact_sort_key(name) for key in CONTACT_ORDERINGS for name in (f"-{key}", key)}
    ordering_labels = {
        "-created": "Newest first", "created": "Oldest first", "-updated": "Recently updated",
        "-last_activity": "Recent activity", "name": "Name A–Z", "-name": "Name Z–A",
        "-score": "Highest score", "score": "Lowest score",
    }

    def parse_ordering(self, value):
        view = saved_view_for(self.request, self.request.GET)  # ?view=<id> sorts as the view does
        value = value or (view.ordering if view is not None else "") or self.default_ordering
        validate_ordering(value)  # the API's message for an unknown sort
        return value, self.orderings[value]

    def get_queryset(self):
        return (Contact.objects.visible_to(self.request.user)
                .select_related("owner", "team").prefetch_related(_tags_prefetch()))

    def get_filterset(self, queryset):
        filterset = ContactFilter(self.request.GET, queryset=queryset, request=self.request)
        prepare_filter_form(filterset.form)
        return filterset

    def get_context_data(self, context):
        form = context["filter"].form
        active = [name for name in form.fields if name not in {"q", "tags_mode", "view"}
                  and any(v not in ("", "unknown") for v in self.request.GET.getlist(name))]
        ordering = context["ordering"].lstrip("-")
        return {
            # Per-page constants, so each of the rows renders less.
            "detail_prefix": reverse("contacts:list"),
            "date_column": ordering if ordering in {"updated", "last_activity", "score"} else "created",
            "custom_filter_fields": [form[name] for name in form.fields if name.startswith("cf_")],
            "active_filters": active,
            "q": self.request.GET.get("q", ""),
            **saved_views_context(self.request, context["filter"]),  # contacts/segment_views.py
            # The bulk-action bar, for roles that write (lazy querysets: only a full page renders them).
            **(bar_context(self.request.user) if getattr(Scope.of(self.request.user), "can_write", False)
               else {}),
        }


class ContactTrashView(TrashView):
    namespace = "contacts-trash"
    trash = {"title": "Contacts", "noun": "contacts", "page_noun": "deleted contacts",
             "list_url": "contacts:list", "restore_url": "contacts:restore", "bulk_url": "contacts:bulk",
             "note": "Deleted contacts stay here with their history, tags and links until they are restored.",
             "empty_note": "Contacts you delete land here, so a slip of the finger is easy to undo."}

    def get_queryset(self):
        return (Contact.all_objects.visible_to(self.request.user).filter(deleted_at__isnull=False)
                .select_related("owner", "team"))


def _contact_detail_context(request, contact) -> dict:
    user = request.user
    visible_ids = Contact.objects.visible_to(user).values("pk")
    # The industry's layout fields first, in its order; other fields only when they hold a value.
    definitions, shown = contact_custom_definitions(contact.organization_id, contact.industry)
    custom_values = []
    for definition in definitions:
        value = (contact.custom_fields or {}).get(definition.key)
        if shown is not None and definition.pk not in shown and value in (None, "", []):
            continue
        custom_values.append({"label": definition.label, "value": display_custom_value(definition, value),
                              "type": definition.field_type})
    tags = list(contact.tags.order_by("name"))
    contact._prefetched_objects_cache = {**getattr(contact, "_prefetched_objects_cache", {}), "tags": tags}
    consent = [{"channel": label, "key": value, "status": getattr(contact, f"{value}_consent"),
                "label": getattr(contact, f"get_{value}_consent_display")()} for value, label in Channel.choices]
    return {
        "contact": contact,
        "inline_fields": [inline_context(contact, name, url_name="contacts:inline", labels=INLINE_LABELS)
                          for name in INLINE_FIELDS],
        "company_links": list(contact.company_links.filter(company__deleted_at__isnull=True)
                              .select_related("company").order_by("-is_primary", "company__name")),
        # Relationships in both directions, only with contacts this user may see.
        "relationships_out": list(ContactRelationship.objects.filter(from_contact=contact, to_contact__in=visible_ids)
                                  .select_related("to_contact").order_by("type", "to_contact__display_name")),
        "relationships_in": list(ContactRelationship.objects.filter(to_contact=contact, from_contact__in=visible_ids)
                                 .select_related("from_contact").order_by("type", "from_contact__display_name")),
        "tags": tags,
        "tag_form": TagAddForm(contact=contact, user=user) if contact.can_change else None,
        "custom_values": custom_values,
        "consent": consent,
        "preferred_channels": [dict(Channel.choices).get(c, c) for c in contact.preferred_channels or []],
        "subscriptions": [dict(NotificationTopic.choices).get(t, t) for t in contact.notification_opt_ins or []],
        "consent_events": list(ConsentEvent.objects.filter(contact=contact).select_related("actor")[:20]),
        "consent_form": ConsentForm(contact=contact, user=user, prefix="consent") if contact.can_change else None,
        "user_links": list(contact.user_links.select_related("user").order_by("role", "user__full_name")),
        # The timeline card: first page of activities and changes, type chips, quick-add forms.
        **timeline_context(request, contact),
        "history": describe_history(contact, limit=HISTORY_LENGTH),
    }


@login_required
@require_safe
def contact_detail(request, pk):
    try:
        contact = get_visible_or_404(request.user, Contact.objects.select_related("owner", "team", "created_by"), pk)
    except Http404:
        # A contact merged into another one: its old links lead to the survivor (if visible).
        survivor = merged_survivor(request.user, Contact, pk)
        if survivor is None:
            raise
        return redirect("contacts:detail", pk=survivor)
    return render(request, "contacts/detail.html", _contact_detail_context(request, contact))


@login_required
@require_safe
def contact_similar(request, pk):
    """The "Similar contacts" card (loaded after the page): closest in meaning, among those the
    user may see."""
    from contacts.search import similar_contacts

    contact = get_visible_or_404(request.user, Contact.objects.all(), pk)
    pending = contact.embedding is None
    return render(request, "contacts/_similar.html", {
        "contact": contact, "pending": pending,
        "similar": [] if pending else similar_contacts(request.user, contact, 5)})


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request):
    require_writer(request.user)
    form = ContactForm(request.POST or None, instance=Contact(), user=request.user)
    return form_page(request, form, template="contacts/form.html", context={"contact": None},
                     detail="contacts:detail", success="Added {obj}.")


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request, pk):
    contact = get_visible_or_404(request.user, Contact.objects.select_related("owner", "team"), pk, CHANGE)
    form = ContactForm(request.POST or None, instance=contact, user=request.user)
    return form_page(request, form, template="contacts/form.html", context={"contact": contact},
                     detail="contacts:detail", success="Saved {obj}.")


@login_required
@require_POST
def contact_custom_fields(request, pk=None):
    """The form's custom-field section for the industry typed so far (htmx): the industry's
    layout, with the values the user already entered (posted with the whole form)."""
    require_writer(request.user)
    if pk is None:
        contact = Contact()
    else:
        contact = get_visible_or_404(request.user, Contact.objects.all(), pk, CHANGE)
    contact.industry = request.POST.get("industry", "")[:120]
    form = ContactForm(instance=contact, user=request.user)
    for name in form.custom_field_names:
        if name in request.POST:
            multiple = isinstance(form.fields[name], forms.MultipleChoiceField)
            form.initial[name] = request.POST.getlist(name) if multiple else request.POST.get(name)
    form.carried_custom_values = [(name, value) for name in request.POST
                                  if name.startswith("cf_") and name not in form.fields
                                  for value in request.POST.getlist(name) if value != ""]
    return render(request, "contacts/_custom_fields.html", {"form": form})


@login_required
@require_POST
def contact_delete(request, pk):
    contact = get_visible_or_404(request.user, Contact.objects.all(), pk, DELETE)
    soft_delete_contact(contact)
    messages.success(request, f"Moved {contact} to the trash. You can restore it from the trash.")
    return redirect("contacts:list")


@login_required
@require_POST
def contact_restore(request, pk):
    return restore_page(request, Contact.all_objects.all(), pk, action=CHANGE, service=restore_contact,
                        trash_url="contacts:trash", detail_url="contacts:detail")


# -- inline editing (htmx)

INLINE_LABELS = {"lifecycle_stage": "Stage"}


@login_required
@require_http_methods(["GET", "POST"])
def contact_inline(request, pk, field):
    """One field of the contact, shown or edited in place (crm.pages.inline_edit)."""
    return inline_edit(request, Contact.objects.select_related("owner", "team"), pk, field, fields=INLINE_FIELDS,
                       form_class=ContactForm, url_name="contacts:inline", detail_url_name="contacts:detail",
                       labels=INLINE_LABELS, oob_template="contacts/_inline_oob.html")


# -- tags (htmx)

def _tags_response(request, contact, form=None):
    if not wants_partial(request):
        return redirect("contacts:detail", pk=contact.pk)
    tags = list(contact.tags.order_by("name"))
    contact._prefetched_objects_cache = {"tags": tags}
    return render(request, "contacts/_tags.html", {
        "contact": contact, "tags": tags,
        "tag_form": form if form is not None else TagAddForm(contact=contact, user=request.user)})


@login_required
@require_POST
def contact_tag_add(request, pk):
    contact = get_visible_or_404(request.user, Contact.objects.all(), pk, CHANGE)
    form = TagAddForm(request.POST, contact=contact, user=request.user)
    if form.is_valid():
        form.save()
        form = None
    return _tags_response(request, contact, form)


@login_required
@require_POST
def contact_tag_remove(request, pk, tag_pk):
    contact = get_visible_or_404(request.user, Contact.objects.all(), pk, CHANGE)
    set_tags(contact, [t for t in contact.tags.all() if t.pk != tag_pk])
    return _tags_response(request, contact)


@login_required
@require_POST
def contact_consent(request, pk):
    contact = get_visible_or_404(request.user, Contact.objects.all(), pk, CHANGE)
    form = ConsentForm(request.POST, contact=contact, user=request.user, prefix="consent")
    if form.is_valid() and form.save(ip_address=request.META.get("REMOTE_ADDR")) is not None:
        event = form.cleaned_data
        messages.success(request, f"Recorded {dict(Channel.choices)[event['channel']].lower()} consent: "
                                  f"{event['status']}.")
    else:
        messages.error(request, "Could not record consent: " + " ".join(
            f"{form.fields[name].label if name in form.fields else ''} {e}".strip()
            for name, errors in form.errors.items() for e in errors))
    return redirect(reverse("contacts:detail", args=[contact.pk]) + "#consent")


@login_required
@require_POST
def contact_enrich(request, pk):
    """The Enrich button of the contact page: queue the enrichment now."""
    from contacts.enrichment import request_enrichment

    contact = get_visible_or_404(request.user, Contact.objects.all(), pk, CHANGE)
    request_enrichment(contact, request.user)
    messages.success(request, "Enrichment queued: the card shows the results in a few seconds.")
    return redirect(reverse("contacts:detail", args=[contact.pk]) + "#enrichment")
