"""The domain: models, events, metrics, errors, formatting. Pure: no I/O, no clock of its own."""
