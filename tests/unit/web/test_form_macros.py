"""templates/forms.html, the form macros every page's forms use (GOV.UK's pattern):
label, hint, error message above the input, the error summary linking to each field."""

from __future__ import annotations

import re

import pytest

from appward.errors import FieldError, InvalidClientMetadata, InvalidRequest
from appward.web.templates import _env, field_errors


def render(source: str, **context: object) -> str:
    template = _env.from_string('{% import "forms.html" as forms %}' + source)
    return template.render(**context)


def test_input_has_its_label_hint_and_error_tied_to_it():
    html = render(
        '{{ forms.input("client_name", "Name", value=v, hint="Shown on consent", error=e) }}',
        v="Weather",
        e="must not be empty",
    )
    assert '<label class="label" for="client_name">Name</label>' in html
    assert '<div class="hint" id="client_name-hint">Shown on consent</div>' in html
    assert (
        '<p class="error-message" id="client_name-error">'
        '<span class="visually-hidden">Error:</span> must not be empty</p>'
    ) in html
    assert 'aria-describedby="client_name-hint client_name-error"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="Weather"' in html
    assert "form-group--error" in html
    # label, hint, error, then the input
    order = [html.index(s) for s in ("<label", 'class="hint"', "error-message", "<input")]
    assert order == sorted(order)


def test_input_without_hint_or_error_describes_nothing():
    html = render('{{ forms.input("username", "Username") }}')
    assert "aria-describedby" not in html
    assert "aria-invalid" not in html
    assert "error" not in html


def test_password_input_never_echoes_its_value():
    html = render('{{ forms.input("password", "Password", type="password", value="hunter2") }}')
    assert "hunter2" not in html


def test_every_value_is_escaped():
    evil = '"><script>alert(1)</script>'
    html = render(
        "{{ forms.input('n', x, value=x, hint=x, error=x) }}"
        "{{ forms.textarea('t', x, value=x) }}"
        "{{ forms.select('s', x, [(x, x)], selected=x) }}"
        "{{ forms.choices('c', x, [(x, x, x)], checked=[x]) }}"
        "{{ forms.copyable('k', x, x) }}{{ forms.error_summary({'n': x}) }}"
        "{{ forms.button(x, confirm=x) }}{{ forms.hidden('h', x) }}{{ forms.notice(x) }}",
        x=evil,
    )
    assert "<script" not in html
    assert 'value="&#34;&gt;&lt;script&gt;' in html  # the quote cannot end the attribute


def test_extra_attributes_are_escaped_and_none_skipped():
    html = render('{{ forms.input("q", "Search", attrs={"data-x": "a\\"b", "autofocus": none}) }}')
    assert 'data-x="a&#34;b"' in html
    assert "autofocus" not in html


def test_error_summary_links_each_field_and_lists_form_errors_as_text():
    html = render(
        "{{ forms.error_summary(errors) }}",
        errors={"redirect_uris": "must be https", "": "the form expired"},
    )
    assert 'role="alert"' in html
    assert "data-error-summary" in html
    assert '<a href="#redirect_uris">must be https</a>' in html
    assert "<li>the form expired</li>" in html


def test_no_errors_no_summary():
    assert render("{{ forms.error_summary({}) }}").strip() == ""
    assert render("{{ forms.error_prefix({}) }}Title") == "Title"
    assert render("{{ forms.error_prefix({'a': 'b'}) }}Title") == "Error: Title"


def test_choices_are_a_fieldset_with_a_legend_and_labelled_options():
    html = render(
        '{{ forms.choices("grant_types", "Grant types", options, checked=["refresh_token"],'
        ' error="pick one") }}',
        options=[
            ("authorization_code", "Authorization code", "Users sign in"),
            ("refresh_token", "Refresh token"),
        ],
    )
    assert '<fieldset class="fieldset" id="grant_types"' in html
    assert '<legend class="fieldset__legend">Grant types</legend>' in html
    assert '<label class="choices__label" for="grant_types-1">Authorization code</label>' in html
    assert 'aria-describedby="grant_types-1-hint"' in html
    assert re.search(r'id="grant_types-2"[^>]*value="refresh_token" checked', html)
    assert "aria-invalid" not in html.split("<fieldset")[1].split(">")[0]


def test_radios_share_one_name():
    html = render(
        '{{ forms.choices("kind", "Type", [("web", "Web"), ("spa", "SPA")], checked=["spa"],'
        ' type="radio") }}'
    )
    assert html.count('type="radio"') == 2
    assert html.count('name="kind"') == 2


def test_select_marks_the_selected_option():
    html = render(
        '{{ forms.select("status", "Status", [("active", "Active"), ("disabled", "Off")],'
        ' selected="disabled") }}'
    )
    assert '<option value="disabled" selected>Off</option>' in html
    assert '<option value="active">Active</option>' in html


def test_copyable_value_has_a_hidden_copy_button_for_the_script():
    html = render('{{ forms.copyable("secret", "Client secret", "apwcs_x") }}')
    assert 'value="apwcs_x" readonly' in html
    assert 'data-copy="#secret" hidden' in html
    assert 'role="status" data-copy-status="#secret"' in html


def test_button_with_a_confirmation():
    html = render('{{ forms.button("Delete", kind="warning", confirm="Delete it?") }}')
    assert 'class="button button--warning" type="submit" data-confirm="Delete it?"' in html


def test_field_errors_groups_messages_by_input():
    exc = InvalidClientMetadata(
        "bad",
        fields=[
            FieldError("redirect_uris.0", "must be https"),
            FieldError("redirect_uris.1", "must be https"),
            FieldError("redirect_uris.1", "must not have a fragment"),
            FieldError("client_name", "too long"),
        ],
    )
    assert field_errors(exc) == {
        "redirect_uris": "must be https; must not have a fragment",
        "client_name": "too long",
    }


def test_field_errors_of_an_error_without_fields_is_the_form_message():
    assert field_errors(InvalidRequest("the form expired")) == {"": "the form expired"}


@pytest.mark.parametrize("name", ["login.html", "consent.html", "account.html", "landing.html"])
def test_page_templates_extend_the_one_layout(name):
    source = _env.loader.get_source(_env, name)[0]  # type: ignore[union-attr]
    assert source.startswith('{% extends "base.html" %}')
