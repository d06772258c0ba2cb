"""reviews/form_renderer.py: Django's widget templates through Jinja2 (escaped as before), the admin's through the
Django engine."""

from __future__ import annotations

from django import forms
from django.forms.renderers import get_default_renderer
from django.template.backends.django import Template as DjangoTemplate
from django.template.backends.jinja2 import Template as JinjaTemplate


class _Form(forms.Form):
    choice = forms.ChoiceField(choices=[('"><script>alert(1)</script>', "<b>Tom & Jerry</b>")])


def test_it_renders_django_widget_templates_with_jinja2():
    assert isinstance(get_default_renderer().get_template("django/forms/widgets/select.html"), JinjaTemplate)


def test_it_escapes_option_values_and_labels():
    html = str(_Form(data={"choice": '"><script>alert(1)</script>'})["choice"])

    assert "<script>" not in html and "<b>" not in html
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" selected' in html
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in html


def test_it_falls_back_to_the_django_engine_for_the_admins_widgets():
    template = get_default_renderer().get_template("admin/widgets/related_widget_wrapper.html")

    assert isinstance(template, DjangoTemplate)
