"""Django's form and widget templates rendered through Jinja2, anything else (the admin's widgets) as usual.

The filter forms of the search, quality, charts and queue pages have selects with hundreds of options; the
Django template engine renders each option through its own included template, which was about a fifth of a
search page's time. Django ships the same widget templates for Jinja2 (django/forms/jinja2), which renders
them several times faster with the same autoescaping. Jinja2's renderer alone cannot find the admin's widget
templates (they exist only for the Django engine), hence the fallback.
"""

from __future__ import annotations

from functools import cached_property

from django.forms.renderers import BaseRenderer, DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist


class JinjaWidgetRenderer(BaseRenderer):
    @cached_property
    def jinja(self) -> Jinja2:
        return Jinja2()

    @cached_property
    def django(self) -> DjangoTemplates:
        return DjangoTemplates()

    def get_template(self, template_name):
        try:
            return self.jinja.get_template(template_name)
        except TemplateDoesNotExist:
            return self.django.get_template(template_name)
