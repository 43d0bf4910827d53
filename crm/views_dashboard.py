"""The dashboard page: the metrics of crm/dashboard.py as charts and tables, with a date range,
team and industry filter (the same query string as GET /api/dashboard/)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from crm.dashboard import PRESETS, DashboardFilterForm, metrics, preset_range
from crm.permissions import Scope


def preset_links(filters) -> list[dict]:
    """The range presets as links that keep the team and industry filters."""
    keep = {}
    if filters.team is not None:
        keep["team"] = filters.team.pk
    if filters.industry:
        keep["industry"] = filters.industry
    links = []
    for key, label, _days in PRESETS:
        start, end = preset_range(key)
        links.append({"label": label, "current": (start, end) == (filters.start_date, filters.end_date),
                      "query": urlencode({"from": start.isoformat(), "to": end.isoformat(), **keep})})
    return links


@login_required
def dashboard(request):
    scope = Scope.of(request.user)
    if scope is None:
        raise PermissionDenied("Your account does not belong to an organization.")
    form = DashboardFilterForm(request.GET, user=request.user)
    context = {"form": form, "teams": list(form.fields["team"].queryset)}
    if not form.is_valid():
        return render(request, "dashboard/dashboard.html", context, status=400)
    filters = form.filters()
    data = metrics(request.user, filters)
    types = [t["type"] for t in data["activities"]["types"]]
    rep_rows = [{**rep, "cells": [rep["by_type"].get(t) for t in types]} for rep in data["activities"]["by_rep"]]
    context.update(
        data=data, filters=filters, presets=preset_links(filters),
        team_name=filters.team.name if filters.team else "",
        industry_listed=filters.industry.lower() in {i.lower() for i in data["industries"]},
        growth=[{**point, "start": dt.date.fromisoformat(point["start"])} for point in data["growth"]],
        rep_rows=rep_rows, rep_chart_height=max(160, 44 * len(rep_rows) + 60),
    )
    return render(request, "dashboard/dashboard.html", context)
