"""Dry-run planning: prices, token counts and estimates of a workflow before it runs.

Nothing in this package imports litellm: prices and tokenizers are read from the files
that ship inside the installed litellm package.
"""
