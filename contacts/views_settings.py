"""Settings pages of org admins: industry form layouts and assignment rules.

Everyone in the organization may read these rows (they shape the contact form and routing),
but only org admins manage them, so these pages are for org admins only (403 for others);
another organization's rows are a 404 through the visibility gate like everywhere else."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from contacts.forms import AssignmentRuleForm, FormLayoutForm
from contacts.models import AssignmentRule, FormLayout, FormLayoutField
from contacts.services import PRESETS, apply_preset, move_rule, save_rule
from crm.models import CustomFieldDefinition
from crm.pages import form_page, get_visible_or_404, require_admin, wants_partial
from crm.permissions import CHANGE, DELETE


# -- form layouts

@login_required
def layout_list(request):
    require_admin(request.user)
    entries = FormLayoutField.objects.select_related("definition").order_by("position", "id")
    layouts = (FormLayout.objects.visible_to(request.user)
               .annotate(required_count=Count("entries", filter=Q(entries__required=True)))
               .prefetch_related(Prefetch("entries", queryset=entries)).order_by("industry"))
    return render(request, "contacts/settings/layouts.html", {
        "layouts": layouts,
        "presets": [(key, industry) for key, (industry, _) in PRESETS.items()],
        "has_custom_fields": CustomFieldDefinition.objects.visible_to(request.user).filter(model="contact").exists(),
    })


def _layout_page(request, layout):
    definitions = CustomFieldDefinition.objects.visible_to(request.user).filter(model="contact")
    form = FormLayoutForm(request.POST or None, layout=layout, definitions=definitions)
    return form_page(request, form, template="contacts/settings/layout_form.html", context={"layout": layout},
                     success="Saved the form layout for {obj.industry}.", done_url="contact_settings:layouts")


@login_required
@require_http_methods(["GET", "POST"])
def layout_create(request):
    scope = require_admin(request.user)
    return _layout_page(request, FormLayout(organization_id=scope.organization_id))


@login_required
@require_http_methods(["GET", "POST"])
def layout_edit(request, pk):
    require_admin(request.user)
    layout = get_visible_or_404(request.user, FormLayout.objects.prefetch_related("entries"), pk, CHANGE)
    return _layout_page(request, layout)


@login_required
@require_POST
def layout_delete(request, pk):
    require_admin(request.user)
    layout = get_visible_or_404(request.user, FormLayout.objects.all(), pk, DELETE)
    layout.delete()
    messages.success(request, f"Deleted the form layout for {layout.industry}. Its custom fields are kept.")
    return redirect("contact_settings:layouts")


@login_required
@require_POST
def layout_preset(request):
    scope = require_admin(request.user)
    preset = request.POST.get("preset", "")
    try:
        layout, created = apply_preset(scope.organization_id, preset)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("contact_settings:layouts")
    messages.success(request, f"{'Added' if created else 'Updated'} the {layout.industry} form layout.")
    return redirect("contact_settings:layouts")


# -- assignment rules

@login_required
def rule_list(request):
    require_admin(request.user)
    rules = list(AssignmentRule.objects.visible_to(request.user).select_related("team", "owner")
                 .order_by("position", "id"))
    return render(request, "contacts/settings/rules.html", {"rules": rules})


def _rule_page(request, rule):
    form = AssignmentRuleForm(request.POST or None, instance=rule, user=request.user)
    return form_page(request, form, template="contacts/settings/rule_form.html", context={"rule": rule},
                     success="Saved the assignment rule “{obj.name}”.", done_url="contact_settings:rules")


@login_required
@require_http_methods(["GET", "POST"])
def rule_create(request):
    scope = require_admin(request.user)
    return _rule_page(request, AssignmentRule(organization_id=scope.organization_id))


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk):
    require_admin(request.user)
    return _rule_page(request, get_visible_or_404(request.user, AssignmentRule.objects.all(), pk, CHANGE))


@login_required
@require_POST
def rule_delete(request, pk):
    require_admin(request.user)
    rule = get_visible_or_404(request.user, AssignmentRule.objects.all(), pk, DELETE)
    rule.delete()
    messages.success(request, f"Deleted the assignment rule “{rule.name}”.")
    return redirect("contact_settings:rules")


@login_required
@require_POST
def rule_move(request, pk, direction):
    require_admin(request.user)
    rule = get_visible_or_404(request.user, AssignmentRule.objects.all(), pk, CHANGE)
    move_rule(rule, -1 if direction == "up" else 1)
    return redirect("contact_settings:rules")


@login_required
@require_POST
def rule_toggle(request, pk):
    require_admin(request.user)
    rule = get_visible_or_404(request.user, AssignmentRule.objects.all(), pk, CHANGE)
    try:
        save_rule(rule=rule, data={"is_active": not rule.is_active})
    except ValidationError as exc:
        messages.error(request, f"Could not change “{rule.name}”: {' '.join(exc.messages)} Edit the rule to fix it.")
        return redirect("contact_settings:rules")
    messages.success(request, f"{'Activated' if rule.is_active else 'Paused'} “{rule.name}”.")
    return redirect("contact_settings:rules")


# -- search by meaning (embeddings)

@login_required
@require_http_methods(["GET", "POST"])
def search_settings(request):
    """How many contacts and companies still wait for their embedding, the latest backfill
    with its progress (polled while it runs), and buttons to embed what is missing or
    everything again."""
    from contacts import semantic

    scope = require_admin(request.user)
    if request.method == "POST":
        if semantic.running_backfill(scope.organization_id) is not None:
            messages.info(request, "Contacts are already being analysed; this page shows the progress.")
        else:
            job = semantic.start_backfill(scope.organization_id, actor=request.user,
                                          rebuild=request.POST.get("rebuild") == "1")
            messages.success(request, f"Analysing {job.total:,} record{'' if job.total == 1 else 's'} in the "
                                      "background.")
        return redirect("contact_settings:search")
    job = semantic.latest_backfill(request.user)
    context = {"job": job, "pending": semantic.count_pending(scope.organization_id)}
    template = "contacts/settings/_search_status.html" if wants_partial(request) else "contacts/settings/search.html"
    return render(request, template, context)


@login_required
@require_http_methods(["GET", "POST"])
def encryption_settings(request):
    """What is encrypted at rest: the organization's phone-number option (changing it starts a
    conversion job, whose progress this page polls) and the custom fields marked sensitive."""
    from contacts import reseal
    from contacts.services import set_phone_encryption
    from crm.models import Organization

    scope = require_admin(request.user)
    organization = Organization.objects.get(pk=scope.organization_id)
    if request.method == "POST":
        encrypt = request.POST.get("encrypt_phone_numbers") in ("on", "1", "true")
        job = set_phone_encryption(organization, encrypt=encrypt, actor=request.user, inline=False)
        if job is None:
            messages.info(request, "Nothing changed.")
        else:
            messages.success(request, f"Phone numbers will be stored {'encrypted' if encrypt else 'in plain'}; "
                                      f"converting {job.total:,} contact{'' if job.total == 1 else 's'} in the "
                                      "background.")
        return redirect("contact_settings:encryption")
    context = {
        "organization": organization,
        "job": reseal.latest(scope.organization_id, reseal.PHONES_KIND),
        "sensitive_fields": CustomFieldDefinition.objects.filter(organization_id=scope.organization_id,
                                                                 sensitive=True).order_by("model", "position"),
    }
    partial = wants_partial(request)
    return render(request, "contacts/settings/_encryption_status.html" if partial else
                  "contacts/settings/encryption.html", context)
# -- lead scoring weights

@login_required
@require_http_methods(["GET", "POST"])
def scoring_settings(request):
    """The organization's lead-scoring weights; saving them rescores every contact (a job whose
    progress the page polls)."""
    from contacts import scoring
    from contacts.forms import ScoringModelForm
    from contacts.models import ScoringModel

    scope = require_admin(request.user)
    if wants_partial(request) and request.method == "GET":
        return render(request, "contacts/settings/_scoring_status.html",
                      {"job": scoring.latest_job(scope.organization_id)})
    model = ScoringModel.for_organization(scope.organization_id)
    form = ScoringModelForm(request.POST or None, instance=model)
    if request.method == "POST" and form.is_valid():
        job = scoring.save_model(form.instance, actor=request.user)
        messages.success(request, f"Saved the weights; rescoring {job.total:,} contact{'' if job.total == 1 else 's'} "
                                  "in the background.")
        return redirect("contact_settings:scoring")
    return render(request, "contacts/settings/scoring.html",
                  {"form": form, "job": scoring.latest_job(scope.organization_id)},
                  status=400 if form.is_bound else 200)
