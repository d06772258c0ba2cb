from __future__ import annotations

from django.utils.safestring import SafeString

from reviews.search.snippets import START, STOP, render_snippet


def test_it_escapes_everything_then_marks_hits():
    html = render_snippet(f'<script>alert("x")</script> {START}refund{STOP} <b>now</b>')
    assert isinstance(html, SafeString)
    assert html == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>refund</mark> &lt;b&gt;now&lt;/b&gt;"


def test_it_balances_marks_when_the_text_contains_sentinels():
    html = render_snippet(f"{START}a{START}b{STOP}{STOP}c{START}d")
    assert html == "<mark>ab</mark>c<mark>d</mark>"


def test_it_falls_back_to_the_escaped_text():
    assert render_snippet("", fallback_text="<i>hi</i>") == "&lt;i&gt;hi&lt;/i&gt;"
