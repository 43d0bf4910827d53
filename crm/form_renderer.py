"""The form renderer: Django's templates, except the hot widgets rendered in Python.

A contact list page renders its whole filter panel (checkbox lists of stages, sources,
owners, teams and tags; selects; number and date inputs) on every request; through the
template engine that was a fifth of the page's time. The markup is the same as the
templates' (templates/django/forms/widgets/select.html and multiple_input.html, Django's
input.html and attrs.html); anything else still renders from its template."""

from __future__ import annotations

from django.forms.renderers import TemplatesSetting
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

_INPUTS = {f"django/forms/widgets/{name}.html" for name in (
    "text", "number", "email", "url", "password", "hidden", "date", "datetime", "time", "search", "tel",
    "checkbox", "color")}
_SELECT = "django/forms/widgets/select.html"
_MULTIPLE = {"django/forms/widgets/checkbox_select.html", "django/forms/widgets/radio.html"}


def _e(value) -> str:
    return conditional_escape(value)


def _attrs(attrs: dict) -> str:
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {_e(name)}" if value is True else f' {_e(name)}="{_e(str(value))}"')
    return "".join(parts)


def _input(w: dict) -> str:
    value = "" if w["value"] is None else f' value="{_e(str(w["value"]))}"'
    return f'<input type="{_e(w["type"])}" name="{_e(w["name"])}"{value}{_attrs(w["attrs"])}>'


def _select(w: dict) -> str:
    out = [f'<select name="{_e(w["name"])}"{_attrs(w["attrs"])}>']
    for group_name, options, _index in w["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{_e(group_name)}">')
        for option in options:
            out.append(f'\n  <option value="{_e(str(option["value"]))}"{_attrs(option["attrs"])}>'
                       f'{_e(option["label"])}</option>')
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


def _multiple(w: dict) -> str:
    attrs = w["attrs"]
    out = ["<div", f' id="{_e(attrs["id"])}"' if attrs.get("id") else "",
           f' class="{_e(attrs["class"])}"' if attrs.get("class") else "", ">"]
    for group, options, _index in w["optgroups"]:
        if group:
            out.append(f"\n  <div><label>{_e(group)}</label>")
        for option in options:
            option_id = option["attrs"].get("id")
            value = "" if option["value"] is None else f' value="{_e(str(option["value"]))}"'
            field = f'<input type="{_e(option["type"])}" name="{_e(option["name"])}"{value}{_attrs(option["attrs"])}>'
            if option.get("wrap_label"):
                label_for = f' for="{_e(option_id)}"' if option_id else ""
                field = f"<label{label_for}>{field} {_e(option['label'])}</label>"
            out.append(f"<div>\n    {field}</div>")
        if group:
            out.append("\n  </div>")
    out.append("\n</div>")
    return "".join(out)


class KithFormRenderer(TemplatesSetting):
    def render(self, template_name, context, request=None):
        widget = context.get("widget") if isinstance(context, dict) else None
        if widget is not None:
            if template_name in _INPUTS:
                return mark_safe(_input(widget))
            if template_name == _SELECT:
                return mark_safe(_select(widget))
            if template_name in _MULTIPLE:
                return mark_safe(_multiple(widget))
        return super().render(template_name, context, request)
