"""Pure alert policy stages: routing, grouping, silences, dedup, rate limits.

Each stage keeps its whole state in plain objects and takes the time as an
argument, so the notifier, the CLI and the tests run exactly the same code
(Alertmanager's notify pipeline, one small stage per file).
"""
