"""Small, hot template pieces as tags: rendered once per row of long lists, where an
{% include %} per row costs more than the page's SQL."""

from django import template
from django.utils.html import format_html

register = template.Library()

_SHORT_STAGES = {"mql": "MQL", "sql": "SQL"}


@register.simple_tag
def stage_pill(stage: str, label: str):
    return format_html('<span class="pill stage-{}" title="{}">{}</span>', stage, label,
                       _SHORT_STAGES.get(stage, label))


@register.simple_tag
def tag_chip(tag):
    if tag.description:
        return format_html('<span class="tag tag-{}" title="{}">{}</span>', tag.colour, tag.description, tag.name)
    return format_html('<span class="tag tag-{}">{}</span>', tag.colour, tag.name)
