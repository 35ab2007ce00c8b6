# Signals are handled from the first moment, before the heavy imports (agentflow.run.signals).
from agentflow.run import signals

signals.install()

from agentflow.cli.app import main  # noqa: E402

main()
