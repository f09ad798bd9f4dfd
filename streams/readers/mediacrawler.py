"""MediaCrawler (NanmiCoder/MediaCrawler): every platform, CSV, JSON and JSONL.

Files: ``data/<platform>/{csv,json,jsonl}/<crawler type>_<contents|comments>_<date>.<ext>``;
CSV in utf-8-sig with a header from the first item's keys, JSON one array
rewritten (``indent=4``) on every save, JSONL one object per line. Fields
per platform (contents; comments share ``comment_id``/``content``):

* weibo: note_id, content, create_time (epoch s), create_date_time, liked_count,
  comments_count, shared_count, note_url, user_id or creator_hash, nickname;
* xhs: note_id, type, title, desc, time (epoch ms), liked_count, collected_count,
  comment_count, share_count, ip_location, tag_list, note_url;
* douyin: aweme_id, aweme_type, title, desc, create_time, liked_count,
  comment_count, share_count, aweme_url (counts written with str(): "None");
* kuaishou: video_id, title, desc, create_time (ms), liked_count, viewd_count, video_url;
* bilibili: video_id, title, desc, create_time, liked_count, video_comment,
  video_share_count, video_url;
* tieba: note_id, title, desc, note_url, publish_time, user_nickname, tieba_name,
  total_replay_num;
* zhihu: content_id, content_type, content_text, content_url, title, desc,
  created_time, voteup_count, comment_count, user_nickname.

Newer versions write ``creator_hash`` (an anonymised user id) and a masked
nickname instead of ``user_id``. Title and description are joined into the
text (one column alone loses one of them). MediaCrawler's licence is
non-commercial (docs/connectors.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import PurePath
from typing import Any

from streams.models import RecordError
from streams.readers.base import Origin, Schema, first
from streams.readers.mapping import join_text

# Folder names MediaCrawler writes under data/ -> the post source.
PLATFORMS = {"weibo": "weibo", "wb": "weibo", "xhs": "xhs", "douyin": "douyin", "dy": "douyin",
             "kuaishou": "kuaishou", "ks": "kuaishou", "bilibili": "bilibili", "bili": "bilibili",
             "tieba": "tieba", "zhihu": "zhihu"}
ID_FIELDS = ("comment_id", "note_id", "aweme_id", "video_id", "content_id", "dynamic_id")
TIME_FIELDS = ("time", "create_time", "created_time", "publish_time", "pub_ts", "create_date_time")
MARKERS = ("last_modify_ts", "source_keyword")


def platform_of(record: Mapping[str, Any], path: PurePath) -> str:
    """The platform from the folder MediaCrawler wrote into, else from the fields."""
    for part in reversed(path.parts[:-1]):
        if part.lower() in PLATFORMS:
            return PLATFORMS[part.lower()]
    keys = set(record)
    if "aweme_id" in keys:
        return "douyin"
    if "content_id" in keys or "voteup_count" in keys:
        return "zhihu"
    if "tieba_name" in keys or "tieba_id" in keys:
        return "tieba"
    if keys & {"video_play_count", "video_danmaku", "video_coin_count", "dynamic_id"}:
        return "bilibili"
    if keys & {"viewd_count", "video_play_url"}:
        return "kuaishou"
    if keys & {"collected_count", "tag_list", "xsec_token", "image_list"} or "type" in keys:
        return "xhs"
    if keys & {"shared_count", "create_date_time", "comment_like_count"} or "content" in keys:
        return "weibo"
    return "mediacrawler"


def to_post(record: Mapping[str, Any], origin: Origin) -> dict[str, Any]:
    post_id = first(record, *ID_FIELDS)
    if post_id is None:
        raise RecordError("missing_field", f"id: none of {', '.join(ID_FIELDS)} is set")
    platform = platform_of(record, origin.path)
    parts = [record.get(name) for name in ("title", "desc", "content", "content_text", "text")]
    if any(p is not None and not isinstance(p, str) for p in parts):
        raise RecordError("wrong_type", "text: title, desc or content is not text")
    # Zhihu: desc is an excerpt of content_text; keep the full text.
    if isinstance(record.get("content_text"), str) and record["content_text"].strip():
        parts = [record.get("title"), record.get("content_text")]
    text = join_text([p for p in parts if isinstance(p, str)])
    author_id = first(record, "user_id", "creator_hash", "sec_uid", "user_link", "uid")
    name = first(record, "nickname", "user_nickname", "user_name") or ""
    return {
        "source": origin.source or platform,
        "id": str(post_id).strip(),
        "text": text if any(isinstance(p, str) for p in parts) else None,
        "created_at": first(record, *TIME_FIELDS),
        "url": first(record, "note_url", "aweme_url", "video_url", "content_url") or "",
        "lang": origin.lang,
        "author": {"id": author_id if author_id is not None else (name or "unknown"), "name": name},
        "likes": first(record, "liked_count", "like_count", "voteup_count", "comment_like_count", "total_liked"),
        "comments": first(record, "comments_count", "comment_count", "video_comment", "total_replay_num",
                          "total_comments", "sub_comment_count"),
        "reposts": first(record, "shared_count", "share_count", "video_share_count", "total_forwards"),
        "raw": {k: v for k, v in (("platform", platform), ("keyword", record.get("source_keyword")),
                                  ("ip_location", record.get("ip_location")),
                                  ("type", first(record, "type", "aweme_type", "content_type", "video_type")))
                if v not in (None, "")},
    }


def recognises(fields: Collection[str], path: PurePath) -> bool:
    names = set(fields)
    if "_creators_" in path.name or not names & set(ID_FIELDS):
        return False
    return bool(names & set(MARKERS)) or "_contents_" in path.name or "_comments_" in path.name


SCHEMA = Schema("mediacrawler", "MediaCrawler contents or comments of any platform (CSV, JSON array, JSONL)",
                to_post, recognises)
