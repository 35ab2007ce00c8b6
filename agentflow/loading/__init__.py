"""Loading: read a workflow file into a `Document` (plain data plus positions); owns ruamel.yaml."""

from agentflow.loading.document import Document
from agentflow.loading.yaml_loader import MAX_FILE_BYTES, load_document, load_text

__all__ = ["MAX_FILE_BYTES", "Document", "load_document", "load_text"]
