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


def test_it_completes_a_mask_token_a_fragment_cut_in_half():
    from reviews.search.snippets import complete_mask_tokens

    text = "[card number*] was read out, then my IBAN is [bank account*]. Thanks"
    marked = f"{START}number{STOP}*] was read out … my IBAN is [{START}bank{STOP} {START}account{STOP}"
    completed = complete_mask_tokens(marked, text, delimiter=" … ")
    assert (
        completed == f"[card {START}number{STOP}*] was read out … my IBAN is [{START}bank{STOP} {START}account{STOP}*]"
    )
    assert complete_mask_tokens("[card number", "[card number] ok", delimiter="…") == "[card number]"


def test_it_leaves_snippets_without_cut_masks_alone():
    from reviews.search.snippets import complete_mask_tokens

    assert (
        complete_mask_tokens(f"{START}refund{STOP} now", "refund now please", delimiter="…")
        == f"{START}refund{STOP} now"
    )
    assert complete_mask_tokens("not in the text [card", "[card number*]", delimiter="…") == "not in the text [card"
