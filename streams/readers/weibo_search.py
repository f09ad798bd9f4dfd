"""dataabc/weibo-search: ``结果文件/<keyword>/<keyword>.csv`` in utf-8-sig.

Columns (newer versions): id, bid, user_id, 用户昵称, 微博正文, 头条文章url,
发布位置, 艾特用户, 话题, 转发数, 评论数, 点赞数, 发布时间 (naive
"YYYY-MM-DD HH:MM", Beijing time), 发布工具, 微博图片url, 微博视频url,
retweet_id, ip, user_authentication (普通用户/蓝V/黄V/金V), 会员类型,
会员等级; older versions stop at retweet_id. The id is the Weibo mid, the
same id the Weibo API, weibo-crawler and MediaCrawler use, so the post key
``weibo:<id>`` is shared with them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePath
from typing import Any

from streams.readers.base import Origin, Schema, first


def to_post(record: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    post_id = record.get("id")
    user_id = record.get("user_id")
    bid = record.get("bid")
    url = f"https://weibo.com/{user_id}/{bid}" if user_id and bid else ""
    return {
        "source": origin.source or "weibo",
        "id": post_id.strip() if isinstance(post_id, str) else post_id,
        "text": record.get("微博正文"),
        "created_at": record.get("发布时间"),
        "url": url,
        "lang": origin.lang,
        "author": {"id": first(record, "user_id", "用户昵称") or "unknown", "name": record.get("用户昵称") or "",
                   "verified": record.get("user_authentication")},
        "reposts": record.get("转发数"),
        "comments": record.get("评论数"),
        "likes": record.get("点赞数"),
        "raw": {k: v for k, v in (("keyword", origin.path.parent.name), ("location", record.get("发布位置")),
                                  ("topics", record.get("话题")), ("ip", record.get("ip")),
                                  ("retweet_id", record.get("retweet_id")))
                if v not in (None, "")},
    }


def recognises(fields: Collection[str], path: PurePath) -> bool:
    return {"微博正文", "发布时间"} <= set(fields)


SCHEMA = Schema("weibo-search", "dataabc/weibo-search result CSV (结果文件/<keyword>/<keyword>.csv)", to_post, recognises)
