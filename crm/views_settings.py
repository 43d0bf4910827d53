"""Settings pages for org admins: members (invite, role and team, deactivate with
reassignment, reactivate) and teams (create, rename, delete). Everything here is the
admin's organization only: another organization's member or team is a 404; a
non-admin gets 403. Writes go through crm.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from contacts.models import Contact
from crm import services
from crm.api.members import member_counts
from crm.forms_settings import DeactivateForm, InviteForm, MemberForm, TeamForm, add_service_errors
from crm.models import Membership, Team
from crm.pages import get_visible_or_404, require_admin
from crm.permissions import CHANGE


def members_with_counts(organization_id):
    """Members with their user, team and number of owned live contacts: one query."""
    owned = (Contact.objects.filter(owner_id=OuterRef("user_id"), organization_id=organization_id)
             .order_by().values("owner_id").annotate(n=Count("*")).values("n"))
    return (Membership.objects.filter(organization_id=organization_id).select_related("user", "team")
            .annotate(owned_contacts=Coalesce(Subquery(owned, output_field=IntegerField()), 0))
            .order_by("-user__is_active", "user__full_name", "user__email"))


@login_required
def settings_home(request):
    require_admin(request.user)
    return redirect("settings_members")


@login_required
@require_http_methods(["GET", "POST"])
def members(request):
    """The member list, and the invite form (POST)."""
    scope = require_admin(request.user)
    form = InviteForm(request.POST or None, organization_id=scope.organization_id, prefix="invite")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            membership = services.invite_member(
                scope.organization_id, email=data["email"], full_name=data["full_name"], role=data["role"],
                team=data["team"], password=data["password"] or None, actor=request.user, request=request)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if data["password"]:
                messages.success(request, f"Added {membership.user.email}. They can sign in with the password you set.")
            else:
                messages.success(request, f"Invited {membership.user.email}. They'll get an email with a link "
                                          "to choose a password.")
            return redirect("settings_members")
    rows = list(members_with_counts(scope.organization_id))
    return render(request, "crm/settings/members.html", {
        "members": rows, "invite_form": form, "active_count": sum(1 for m in rows if m.user.is_active),
    }, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def member_edit(request, pk):
    """Role, team and name of one member; the deactivate/reactivate forms."""
    require_admin(request.user)
    membership = get_visible_or_404(request.user, Membership.objects.select_related("user", "team"), pk, CHANGE)
    form = MemberForm(request.POST or None, membership=membership)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_member(membership, data=form.cleaned_data, actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {membership.user.get_full_name()}.")
            return redirect("settings_members")
    return _member_page(request, membership, form=form, status=400 if form.errors else 200)


def _member_page(request, membership, *, form=None, deactivate_form=None, status=200):
    owned = Contact.objects.filter(organization_id=membership.organization_id, owner_id=membership.user_id).count()
    return render(request, "crm/settings/member.html", {
        "membership": membership, "member": membership.user, "owned_contacts": owned,
        "form": form or MemberForm(membership=membership),
        "deactivate_form": deactivate_form or DeactivateForm(membership=membership, prefix="deactivate"),
        "is_self": membership.user_id == request.user.pk,
    }, status=status)


@login_required
@require_POST
def member_deactivate(request, pk):
    require_admin(request.user)
    membership = get_visible_or_404(request.user, Membership.objects.select_related("user", "team"), pk, CHANGE)
    form = DeactivateForm(request.POST, membership=membership, prefix="deactivate")
    if form.is_valid():
        try:
            moved = services.deactivate_member(membership, reassign_to=form.cleaned_data["reassign_to"],
                                               actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            target = form.cleaned_data["reassign_to"]
            handed = ""
            if target is not None and any(moved.values()):
                handed = (f" {moved['contacts']} contact(s), {moved['companies']} compan(y/ies) and "
                          f"{moved['tasks']} open task(s) now belong to {target.user.get_full_name()}.")
            messages.success(request, f"Deactivated {membership.user.get_full_name()}: they can no longer "
                                      f"sign in.{handed}")
            return redirect("settings_members")
    return _member_page(request, membership, deactivate_form=form, status=400)


@login_required
@require_POST
def member_reactivate(request, pk):
    require_admin(request.user)
    membership = get_visible_or_404(request.user, Membership.objects.select_related("user"), pk, CHANGE)
    services.reactivate_member(membership, actor=request.user)
    messages.success(request, f"Reactivated {membership.user.get_full_name()}: they can sign in again.")
    return redirect("settings_members")


@login_required
@require_POST
def member_resend_invite(request, pk):
    require_admin(request.user)
    membership = get_visible_or_404(request.user, Membership.objects.select_related("user", "organization"), pk, CHANGE)
    user = membership.user
    if user.has_usable_password() or not user.is_active:
        messages.error(request, f"{user.email} has already chosen a password or is deactivated: nothing to send.")
    else:
        services.InvitationForm.send(user, request=request, invited_by=request.user,
                                     organization=membership.organization)
        messages.success(request, f"Sent the invitation to {user.email} again.")
    return redirect("settings_members")


# -- teams

@login_required
@require_http_methods(["GET", "POST"])
def teams(request):
    """The team list with member and contact counts, and the create form (POST)."""
    scope = require_admin(request.user)
    form = TeamForm(request.POST or None, prefix="team")
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(scope.organization_id, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Created the team {team.name}.")
            return redirect("settings_teams")
    contacts = (Contact.objects.filter(team_id=OuterRef("pk")).order_by().values("team_id")
                .annotate(n=Count("*")).values("n"))
    rows = list(Team.objects.filter(organization_id=scope.organization_id)
                .annotate(member_count=member_counts(),
                          contact_count=Coalesce(Subquery(contacts, output_field=IntegerField()), 0))
                .order_by("name"))
    return render(request, "crm/settings/teams.html", {"teams": rows, "form": form},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def team_edit(request, pk):
    require_admin(request.user)
    team = get_visible_or_404(request.user, Team.objects.all(), pk, CHANGE)
    form = TeamForm(request.POST or None, instance=team, prefix="team")
    if request.method == "POST" and form.is_valid():
        try:
            services.update_team(team, data=form.cleaned_data, actor=request.user)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved the team {team.name}.")
            return redirect("settings_teams")
    team.refresh_from_db()
    return render(request, "crm/settings/team.html", {
        "team": team, "form": form,
        "member_count": team.memberships.count(),
        "contact_count": Contact.objects.filter(team_id=team.pk).count(),
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def team_delete(request, pk):
    require_admin(request.user)
    team = get_visible_or_404(request.user, Team.objects.all(), pk, CHANGE)
    try:
        released = services.delete_team(team, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("settings_team", pk=team.pk)
    messages.success(request, f"Deleted the team {team.name}. {released['members']} member(s) and "
                              f"{released['contacts']} contact(s) no longer have a team.")
    return redirect("settings_teams")
