from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from activities.tasks_page import open_tasks
from companies.models import Company
from contacts.models import Contact
from crm import health
from crm.permissions import Scope


@login_required
def home(request):
    scope = Scope.of(request.user)
    membership = getattr(request.user, "membership", None) if scope else None
    stats = None
    recent = []
    if scope is not None:
        contacts = Contact.objects.visible_to(request.user)
        stats = {
            "contacts": contacts.count(),
            "companies": Company.objects.visible_to(request.user).count(),
            "open_tasks": open_tasks(request.user).count(),  # what My tasks lists
        }
        recent = list(contacts.select_related("owner").order_by("-created_at", "-id")[:8])
    return render(request, "crm/home.html", {"membership": membership, "stats": stats, "recent_contacts": recent})


@never_cache
def healthz(request):
    """Web, database, broker and worker health (crm.health): no login, no data, one query."""
    body, status = health.report()
    return JsonResponse(body, status=status)
