"""The benchmarks behind docs/PERFORMANCE.md (DESIGN.md section 6, targets B1-B6).

    .venv/bin/python -m benchmarks            # everything; rewrites docs/PERFORMANCE.md
    .venv/bin/python -m benchmarks B1 B4      # a subset; prints the table, writes nothing

Layout: `workloads` generates the workflows (seeded DAGs as YAML files), `server` starts
the fake OpenAI-compatible server in a process of its own (pinned to its own core),
`worker` runs in-process measurements (the engine, bare LiteLLM) in fresh subprocesses,
`suite` holds one function per benchmark, and `report` renders the table and the document.
Nothing here asserts: every target is reported PASS or FAIL with the numbers measured.
"""
