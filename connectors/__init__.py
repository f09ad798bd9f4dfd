"""Connectors that bring social posts into ``koubei.posts``.

One module per connector (``http_ingest``, ``rss``, ``weibo``, ``mastodon``,
``csv_source`` for CSV and JSONL files) on a shared runtime (``runtime``:
queue, Kafka confirmation, checkpoints, shutdown); ``file_replay`` is the
one-off ``koubei replay``. Configuration lives in ``config``, the CLI in
``cli``. Kept import-light: the ``koubei`` command imports this package for
every sub-command.
"""
