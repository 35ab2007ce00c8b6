"""`agentflow init`: copy a shipped template into a folder, never over an existing file.

Templates are the example workflows of the repository's `workflows/` folder (with the tool
modules and sample data each one uses) and a blank one-agent workflow. In a wheel the examples
live in the package under `agentflow/templates_data/workflows/` (pyproject force-includes
`workflows/` there) and the blank one under `agentflow/templates_data/blank/`; in a source
checkout or an editable install the examples are read from `workflows/` itself.

    >>> [t.name for t in list_templates()][:2]
    ['blank', 'hr']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from agentflow.errors import UsageError

_CHECKOUT_EXAMPLES = Path(__file__).resolve().parents[1] / "workflows"

# The editor hint the examples carry points at the repository's schemas/ folder; a scaffolded
# copy points at the schema's published id instead, which stays right wherever it is put.
_REPO_SCHEMA_HINT = "# yaml-language-server: $schema=../schemas/workflow.schema.json"
SCHEMA_ID = "https://agentflow.dev/schemas/workflow.schema.json"  # its $id (a test checks)
_SCHEMA_HINT = f"# yaml-language-server: $schema={SCHEMA_ID}"


@dataclass(frozen=True, slots=True)
class Template:
    """One template: its name, what it is, and the files it writes (relative paths)."""

    name: str
    description: str
    source: str  # "blank" or "workflows": the folder its files are read from
    files: tuple[str, ...]

    @property
    def workflow_file(self) -> str:
        """The workflow file of the template (the first file)."""
        return self.files[0]


TEMPLATES: tuple[Template, ...] = (
    Template(
        "blank",
        "one agent, one input with a default: the smallest workflow to start from",
        "blank",
        ("workflow.yaml",),
    ),
    Template(
        "hr",
        "HR onboarding: screen a resume, book interviews, plan onboarding, welcome notes",
        "workflows",
        (
            "hr_onboarding.yaml",
            "tools/hr.py",
            "tools/onboarding_checklist.py",
            "data/employees.json",
            "data/interview_calendar.json",
            "data/onboarding_checklists.json",
        ),
    ),
    Template(
        "finance",
        "invoice processing: extract, three-way match, schedule payments, reconcile",
        "workflows",
        (
            "finance_invoice_processing.yaml",
            "tools/finance.py",
            "data/purchase_orders.json",
            "data/vendors.json",
            "data/invoices.json",
        ),
    ),
    Template(
        "inventory",
        "inventory reorder: classify stock, forecast demand, pick suppliers, draft POs",
        "workflows",
        (
            "inventory_reorder.yaml",
            "tools/inventory.py",
            "data/stock_levels.csv",
            "data/sales_history.csv",
            "data/suppliers.json",
        ),
    ),
    Template(
        "compliance",
        "compliance audit: test policies against evidence, score risk, plan remediation",
        "workflows",
        (
            "compliance_audit.yaml",
            "tools/compliance.py",
            "data/policies.json",
            "data/evidence.json",
        ),
    ),
)


def list_templates() -> tuple[Template, ...]:
    """Every template `agentflow init` can write, `blank` first."""
    return TEMPLATES


def get_template(name: str) -> Template:
    """The template called `name`; a `UsageError` naming the choices when there is none."""
    for template in TEMPLATES:
        if template.name == name:
            return template
    from agentflow.schema.suggest import did_you_mean

    names = [t.name for t in TEMPLATES]
    hint = did_you_mean(name, names)
    extra = f"did you mean '{hint}'?" if hint else f"choose one of {', '.join(names)}"
    raise UsageError(f"unknown template '{name}'; {extra} (agentflow init --list)")


def _source_dir(template: Template) -> Traversable:
    shipped = resources.files("agentflow").joinpath("templates_data").joinpath(template.source)
    if template.source == "blank" or shipped.is_dir():
        return shipped
    return _CHECKOUT_EXAMPLES


def _read(root: Traversable, relative: str) -> bytes:
    node = root
    for part in relative.split("/"):
        node = node.joinpath(part)
    data = node.read_bytes()
    if relative.endswith((".yaml", ".yml")):
        data = data.replace(_REPO_SCHEMA_HINT.encode(), _SCHEMA_HINT.encode(), 1)
    return data


def scaffold(name: str, dest: Path) -> list[Path]:
    """Write template `name` into folder `dest` (created when missing); the files written.

    Nothing is written when any of the template's files exists already: the `UsageError`
    lists them. Scripts (files starting with `#!`) are made executable, as command tools
    must be.
    """
    template = get_template(name)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is a file, not a folder; name a folder to write the template in")
    targets = [dest / relative for relative in template.files]
    existing = [str(t) for t in targets if t.exists() or t.is_symlink()]
    if existing:
        raise UsageError(
            f"not overwriting {', '.join(existing)}; nothing was written "
            "(move them away, or choose another folder)"
        )
    root = _source_dir(template)
    contents = [_read(root, relative) for relative in template.files]
    written: list[Path] = []
    try:
        for target, data in zip(targets, contents, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as f:  # "x": a file that appeared meanwhile is not replaced
                f.write(data)
            written.append(target)
            if data.startswith(b"#!"):
                os.chmod(target, 0o755)
    except OSError as exc:
        for path in written:  # all or nothing: no half a template
            path.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write {exc.filename or dest}: {exc.strerror or exc}; nothing was kept"
        ) from None
    return written
