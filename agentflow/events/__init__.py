"""Run events: what the engine reports, and the bus that fans them out to sinks."""
