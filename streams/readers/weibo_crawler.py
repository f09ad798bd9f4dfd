"""dataabc/weibo-crawler: one user's posts, as files or pushed.

* CSV ``weibo/<screen name or uid>/<uid>.csv`` (utf-8-sig): id (written with a
  trailing tab so Excel keeps it), bid, 正文, 头条文章url, 原始图片url, 视频url,
  Live Photo视频url, 位置, 日期, 工具, 点赞数, 评论数, 转发数, 话题, @用户,
  完整日期, 是否编辑过, 编辑次数, then 是否原创, 源用户id, 源用户昵称 and the
  源微博 columns. The rows carry no user: the author is the file's uid and
  folder. A row for an original post has fewer cells than the header, one
  for a repost more: both are normal.
* JSON ``weibo/<name>/<uid>.json`` and the ``post`` mode body (an ``api-token``
  header): one object ``{"user": {...}, "weibo": [{...}, ...]}`` whose posts
  have id, bid, user_id, screen_name, text, created_at (naive
  ``%Y-%m-%dT%H:%M:%S``, the crawler machine's local time: Beijing),
  full_created_at, attitudes_count, comments_count, reposts_count and, for a
  repost, ``retweet`` (the reposted post in the same shape).

A repost's text is written the way Weibo shows it, "own words//@author:original"
(as the Weibo API connector writes it), so it is scored on the original's words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePath
from typing import Any

from streams.readers.base import Origin, Schema, first

CSV_FIELDS = ("正文", "点赞数", "评论数", "转发数")


def _json_post(record: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    user = origin.document.get("user") if isinstance(origin.document.get("user"), Mapping) else {}
    assert isinstance(user, Mapping)
    text = record.get("text")
    retweet = record.get("retweet")
    if isinstance(text, str) and isinstance(retweet, Mapping) and isinstance(retweet.get("text"), str):
        text = f"{text}//@{retweet.get('screen_name') or '?'}:{retweet['text']}"
    uid = first(record, "user_id") or user.get("id")
    post_id = record.get("id")
    return {
        "source": origin.source or "weibo",
        "id": post_id.strip() if isinstance(post_id, str) else post_id,
        "text": text,
        "created_at": first(record, "full_created_at", "created_at"),
        "url": f"https://m.weibo.cn/detail/{str(post_id).strip()}" if post_id not in (None, "") else "",
        "lang": origin.lang,
        "author": {"id": uid if uid not in (None, "") else "unknown",
                   "name": first(record, "screen_name") or user.get("screen_name") or "",
                   "followers": user.get("followers_count") if str(user.get("id")) == str(uid) else None,
                   "verified": user.get("verified") if str(user.get("id")) == str(uid) else None},
        "reposts": record.get("reposts_count"),
        "comments": record.get("comments_count"),
        "likes": record.get("attitudes_count"),
        "raw": {k: v for k, v in (("bid", record.get("bid")), ("location", record.get("location")),
                                  ("reposted_id", retweet.get("id") if isinstance(retweet, Mapping) else None))
                if v not in (None, "")},
    }


def _csv_post(record: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    uid = origin.path.stem
    folder = origin.path.parent.name
    text = record.get("正文")
    original_author = record.get("源用户昵称")
    original_text = record.get("源微博正文")
    if isinstance(text, str) and original_author and isinstance(original_text, str) and original_text:
        text = f"{text}//@{original_author}:{original_text}"
    post_id = record.get("id")
    return {
        "source": origin.source or "weibo",
        "id": post_id.strip() if isinstance(post_id, str) else post_id,
        "text": text,
        "created_at": first(record, "完整日期", "日期"),
        "url": f"https://weibo.com/{uid}/{record.get('bid')}" if record.get("bid") else "",
        "lang": origin.lang,
        "author": {"id": uid, "name": folder if folder and folder != uid else ""},
        "reposts": record.get("转发数"),
        "comments": record.get("评论数"),
        "likes": record.get("点赞数"),
        "raw": {k: v for k, v in (("bid", record.get("bid")), ("location", record.get("位置")),
                                  ("topics", record.get("话题")))
                if v not in (None, "")},
    }


def to_post(record: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    return _csv_post(record, origin) if "正文" in record else _json_post(record, origin)


def recognises(fields: Collection[str], path: PurePath) -> bool:
    names = set(fields)
    return set(CSV_FIELDS) <= names or {"user", "weibo"} <= names


SCHEMA = Schema("weibo-crawler", "dataabc/weibo-crawler user CSV/JSON (weibo/<name>/<uid>.csv|json), and its post mode",
                to_post, recognises, records_key="weibo", ragged_rows=True)
