"""Alert delivery: policy (routing, grouping, silences) and one module per channel."""
