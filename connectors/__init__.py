"""Connectors that bring social posts into ``koubei.posts``."""
