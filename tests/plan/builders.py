"""Small workflows built in code (no loader involved), for the plan tests."""

from __future__ import annotations

from pathlib import Path

from agentflow.model.types import (
    Agent,
    Budget,
    FrozenDict,
    InputSpec,
    Limit,
    OutputSpec,
    Price,
    Tool,
    Workflow,
)


def hr_workflow(
    *, budget: Budget | None = None, limits: tuple[Limit, ...] = (), screen_budget: float = 0.05
) -> Workflow:
    """The DESIGN.md example, built directly (no loader involved)."""
    return Workflow(
        name="hr_onboarding",
        path=Path("hr_onboarding.yaml"),
        inputs=(
            InputSpec("candidate", FrozenDict({"type": "object"})),
            InputSpec(
                "role", FrozenDict({"type": "string"}), has_default=True, default="Backend Engineer"
            ),
        ),
        limits=limits,
        budget=budget,
        pricing=(Price("my-local/*", 0.0, 0.0),),
        tools=(
            Tool(
                "lookup_employee",
                "Find an employee record by id.",
                FrozenDict(
                    {
                        "type": "object",
                        "properties": FrozenDict({"employee_id": FrozenDict({"type": "string"})}),
                        "required": ("employee_id",),
                    }
                ),
                python="tools.hr:lookup_employee",
            ),
        ),
        agents=(
            Agent(
                id="parse_resume",
                model="openai/gpt-4o-mini",
                system="You are an HR analyst.",
                prompt=(
                    "Extract name, skills and years of experience from:\n"
                    "{{ inputs.candidate.resume }}\n"
                ),
                output=OutputSpec(
                    "json", FrozenDict({"type": "object", "required": ("name", "skills")})
                ),
                max_tokens=600,
            ),
            Agent(
                id="screen",
                model="openai/gpt-4o-mini",
                prompt=(
                    "Score {{ agents.parse_resume.output.name }} for the {{ inputs.role }} "
                    "role, 0-10."
                ),
                depends_on=("parse_resume",),
                output=OutputSpec(
                    "json",
                    FrozenDict(
                        {
                            "type": "object",
                            "properties": FrozenDict({"score": FrozenDict({"type": "integer"})}),
                        }
                    ),
                ),
                critical=False,
                budget=Budget(max_usd=screen_budget),
                max_tokens=600,
            ),
            Agent(
                id="welcome_notes",
                model="openai/gpt-4o-mini",
                prompt="Write a short welcome note in {{ item }}.",
                needs=("parse_resume",),
                depends_on=("parse_resume",),
                for_each="{{ inputs.candidate.languages }}",
                max_parallel=10,
                max_tokens=600,
            ),
            Agent(
                id="schedule",
                model="anthropic/claude-sonnet-4-5",
                prompt="Schedule the onboarding of {{ agents.parse_resume.output.name }}.",
                when="{{ agents.screen.output.score >= 7 }}",
                depends_on=("screen", "parse_resume"),
                tools=("lookup_employee",),
                max_tool_rounds=5,
                timeout=120.0,
                max_tokens=600,
            ),
            Agent(
                id="local_summary",
                model="my-local/llama",
                prompt="Summarise {{ agents.screen.output }}.",
                depends_on=("screen",),
                max_tokens=300,
            ),
            Agent(
                id="mystery",
                model="acme/unknown-model",
                prompt="Say hi.",
                max_tokens=100,
            ),
        ),
    )


CANDIDATE = {
    "resume": "Ada Lovelace. Mathematician. 10 years of analytical engine programming.",
    "languages": ["English", "French", "Italian"],
}
