"""Durable state across runs: the response journal, the response cache and run history.

`store` owns the SQLite file; `fingerprint` says when two requests are the same request;
`history` reads past runs from the log dir.
"""
