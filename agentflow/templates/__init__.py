"""Jinja2 templates in a sandbox (the only package that imports jinja2).

Context: `inputs`, `agents.<id>.output`, and `item`/`index` inside `for_each`. Undefined
names are errors (strict undefined); there are no environment variables, no file access
and no unsafe attributes. Dicts and lists print as JSON.

    >>> render("Hi {{ inputs.name }}", {"inputs": {"name": "Ada"}})
    'Hi Ada'
    >>> evaluate("{{ inputs.langs }}", {"inputs": {"langs": ["en", "fr"]}})
    ['en', 'fr']
"""

from agentflow.templates.engine import (
    Lookup,
    TemplateRefs,
    TemplateSyntax,
    as_text,
    evaluate,
    references,
    render,
    simple_lookups,
)

__all__ = [
    "Lookup",
    "TemplateRefs",
    "TemplateSyntax",
    "as_text",
    "evaluate",
    "references",
    "render",
    "simple_lookups",
]
