"""Connectors that bring social posts into ``koubei.posts``.

Layout, bottom up (no module imports one above it):

* ``spec``: a configured instance (``ConnectorSpec``), the fields every
  instance accepts, shared field readers;
* ``base``: what a connector is built from (``Batch``, ``DeadItem``,
  ``Context``, mapping through the input gate);
* one module per connector type, each with its options dataclass and its
  connector class (``http_ingest``, ``rss``, ``weibo``, ``mastodon``,
  ``files`` (a crawler's folder), ``csv_source``, ``jsonl_source``); the
  file formats themselves are read by ``streams.readers`` (ground floor);
* ``registry``: the one table of types (name -> options, connector, summary);
* ``config``: the ``connectors`` section of koubei.yaml, read through the registry;
* ``runtime``: queue, Kafka confirmation, checkpoints, shutdown;
* ``file_replay``: the one-off ``koubei replay``.

The commands live in the composition root (``streams.cli.connect``).
"""
