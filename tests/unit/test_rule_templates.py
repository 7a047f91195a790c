"""Rule templates render from plain data in a bounded sandbox: what an email needs works;
what would reach Python objects, or take the worker's memory or time, is refused with a
reason a person can act on."""

from __future__ import annotations

import time

import pytest
from jinja2 import TemplateError

from kokemus.workspace import templates

CONTEXT = {"customer": {"name": "aino", "attributes": {"lines": ["pesukone", "kuivausrumpu"]}},
           "cause": {"properties": {"order": "T-1", "amount": 499.5}}}


@pytest.mark.parametrize(("source", "expected"), [
    ("Hei {{ customer.name|title }}!", "Hei Aino!"),
    ("{{ cause.properties.order }} {{ cause.properties.amount|round|int }} €", "T-1 500 €"),
    ("{% for line in customer.attributes.lines %}- {{ line }}\n{% endfor %}",
     "- pesukone\n- kuivausrumpu\n"),
    ("{{ customer.attributes.lines|join(', ') }}", "pesukone, kuivausrumpu"),
    ("{{ customer.phone|default('–') }}{{ customer.missing }}", "–"),
    ("{{ customer.name.upper() }} {{ customer.get('name') }} {{ 'a' ~ 'b' ~ 1 }}",
     "AINO aino ab1"),
    ("{% for i in range(2) %}{% for j in range(2) %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
     "00 01 10 11 "),
    ("{{ cause|tojson }}", '{"properties": {"amount": 499.5, "order": "T-1"}}'),
    ("{{ [1, 2.5]|sum }} {{ 'ab'|center(4) }}|{{ [1, 2]|reverse|join }}", "3.5  ab |21"),
])
def test_what_an_email_needs_renders(source: str, expected: str) -> None:
    assert templates.problem(source) is None
    assert templates.render(source, CONTEXT) == expected


@pytest.mark.parametrize(("source", "reason"), [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("{{ 'x' * 10**9 }}", "a value longer than 65,536"),
    ("{{ 9 ** 9999999 }}", "an exponent over 64"),
    ("{% set a = 'x' * 60000 %}{{ a ~ a }}", "a value longer than 65,536"),
    ("{{ ('x' * 60000)|list|join('y' * 60000) }}", "a value longer than 65,536"),
    ("{{ ('x' * 60000)|replace('', 'yy') }}", "a value longer than 65,536"),
    ("{{ 'x'|indent(999999999) }}", "a value longer than 65,536"),
    ("{{ 'x'.center(999999999) }}", "attribute 'center' of 'str' object is unsafe"),
    ("{{ '{:>99999999}'.format(1) }}", "attribute 'format' of 'str' object is unsafe"),
    ("{{ '%999999999d' % 1 }}", "% formatting of text"),
    ("{{ ('x' * 60000)|list|map('center', 60000)|list|length }}", "makes more than"),
    ("{% for i in range(100) %}{{ 'x' * 60000 }}{% endfor %}", "an output longer than"),
    ("{% for i in range(201) %}{% endfor %}", "a range of more than 200 numbers"),
    ("{% for x in many %}{% endfor %}", "a loop over more than 200 items"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ lipsum(10) }}", "'lipsum' is undefined"),
    ("{{ 'x'|center(999999999) }}", "a value longer than 65,536"),
    ("{{ ([['x'] * 60000] * 60000)|sum(start=[])|length }}", "sum adds numbers only"),
])
def test_what_would_take_the_worker_is_refused_when_rendered(source: str, reason: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError, match=None) as caught:
        templates.render(source, {**CONTEXT, "many": list(range(5000))})
    assert reason in str(caught.value)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(("source", "reason"), [
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros are not allowed"),
    ("{% set ns = namespace(n=0) %}", "namespace is not allowed"),
    ("{% set x %}a{% endset %}", "block assignments"),
    ("{% include 'other' %}", "include are not allowed"),
    ("{% for a in x %}{% for b in a %}{% for c in b %}{% endfor %}{% endfor %}{% endfor %}",
     "loops nest at most 2 deep"),
    ("{% for a in x recursive %}{{ loop(a) }}{% endfor %}", "recursive loops"),
    ("{{ x|format(1) }}", "No filter named 'format'"),
    ("{{ [1]|batch(999999999, 'x')|list }}", "No filter named 'batch'"),
    ("Hei {{ customer.name }", "template (line 1): unexpected '}'"),
])
def test_what_the_bounds_cannot_cover_is_named_before_it_is_saved(
        source: str, reason: str) -> None:
    problem = templates.problem(source)
    assert problem is not None and problem.startswith("template") and reason in problem
    with pytest.raises(TemplateError):
        templates.render(source, CONTEXT)


def test_data_named_like_the_loop_helper_does_not_change_a_loop() -> None:
    source = "{% for x in items %}{{ x }}{% endfor %}"
    assert templates.render(source, {"items": [1, 2], "range": None}) == "12"
