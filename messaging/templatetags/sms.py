from django import template

register = template.Library()


@register.inclusion_tag("messaging/_sms_panel.html", takes_context=True)
def sms_panel(context, contact):
    """The SMS panel of a contact page: {% load sms %}{% sms_panel contact %}."""
    from messaging.views import panel_context

    return {**panel_context(context["request"].user, contact), "request": context["request"],
            "csrf_token": context.get("csrf_token")}
