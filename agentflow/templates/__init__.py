"""Jinja2 templates in a sandbox (the only package that imports jinja2).

Context: `inputs`, `agents.<id>.output`, and `item`/`index` inside `for_each`. Undefined
names are errors (strict undefined); there are no environment variables, no file access
and no unsafe attributes; a mapping's attributes are its keys (`inputs.items` is the input
named `items`). Dicts and lists print as JSON. Every render is bounded in size and work
(`agentflow.templates.sandbox`).

    >>> render("Hi {{ inputs.name }}", {"inputs": {"name": "Ada"}})
    'Hi Ada'
    >>> evaluate("{{ inputs.langs }}", {"inputs": {"langs": ["en", "fr"]}})
    ['en', 'fr']
"""

from agentflow.templates.engine import (
    FILTER_NAMES,
    INLINE_STEPS,
    TEST_NAMES,
    FieldRef,
    Lookup,
    TemplateRefs,
    TemplateSyntax,
    as_text,
    evaluate,
    evaluate_async,
    is_single_expression,
    references,
    render,
    render_async,
    simple_lookups,
)
from agentflow.templates.sandbox import MAX_OUTPUT, MAX_SIZE, MAX_STEPS

__all__ = [
    "FILTER_NAMES",
    "INLINE_STEPS",
    "MAX_OUTPUT",
    "MAX_SIZE",
    "MAX_STEPS",
    "TEST_NAMES",
    "FieldRef",
    "Lookup",
    "TemplateRefs",
    "TemplateSyntax",
    "as_text",
    "evaluate",
    "evaluate_async",
    "is_single_expression",
    "references",
    "render",
    "render_async",
    "simple_lookups",
]
