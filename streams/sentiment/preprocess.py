"""Weibo-aware text preparation before scoring.

What a Weibo post looks like and what is done with each part:

- emoticons ``[怒]`` ``[哈哈]``: taken out of the text and kept as signals
  (``PreparedText.emoticons``); the scorer uses them (see docs/sentiment.md);
- repost chains ``own words //@user: reposted //@user2: older``: the author's
  own words are ``own_text``; the chain is ``reposted_text``;
- ``回复@user:`` reply prefixes and ``@user`` mentions: removed (a user name
  is not an opinion);
- ``#topic#`` and ``{%...%}`` markup (topics, link and video titles): the
  markers are removed, the words kept (a topic like #某品牌翻车# is signal);
- URLs: removed;
- full-width ASCII forms and the ideographic space: folded to half width;
- traditional characters: converted to simplified with SnowNLP's own table
  (longest phrase first, so 乾坤 stays 乾坤 while 乾 alone becomes 干).
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from streams.sentiment._snowdata import snownlp_dir

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+", re.IGNORECASE)
_MARKUP = re.compile(r"\{%(.*?)%\}", re.DOTALL)
_TOPIC = re.compile(r"#([^#\n]{1,60})#")
_EMOTICON = re.compile(r"\[([^\[\]\s]{1,10})\]")
_REPLY = re.compile(r"回复\s*@[^\s:：,，]{1,30}\s*[:：]\s*")
_MENTION = re.compile(r"@[\w\u4e00-\u9fa5-]{1,30}\s*[:：]?")
_REPOST_SPLIT = re.compile(r"//\s*@")
_SPACES = re.compile(r"\s+")
# Texts Weibo fills in when someone reposts without writing anything.
_EMPTY_REPOST_TEXTS = frozenset({"转发微博", "轉發微博", "repost", "转发", "轉發"})
_HAS_CONTENT = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")


@dataclass(frozen=True)
class PreparedText:
    own_text: str  # the author's own words, cleaned
    reposted_text: str  # the reposted chain, cleaned ("" when not a repost)
    emoticons: tuple[str, ...]  # emoticon names in the author's own part, in order
    reposted_emoticons: tuple[str, ...]
    story: str | None = None  # story_key of the post (see there)

    @property
    def scored_text(self) -> str:
        """The author's words; a repost without words of its own stands for the reposted text."""
        return self.own_text if has_content(self.own_text) else self.reposted_text

    @property
    def scored_emoticons(self) -> tuple[str, ...]:
        return self.emoticons if has_content(self.own_text) or self.emoticons else self.reposted_emoticons


def has_content(text: str) -> bool:
    return bool(_HAS_CONTENT.search(text))


@lru_cache(maxsize=1)
def _traditional_table() -> tuple[dict[int, str], ahocorasick.Automaton | None]:
    """SnowNLP's zh2hans table, read as data (its module would import all of snownlp)."""
    source = (snownlp_dir() / "normal" / "zh.py").read_text(encoding="utf-8")
    mapping: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "zh2hans" for t in node.targets):
            mapping = ast.literal_eval(node.value)
    singles = {ord(k): v for k, v in mapping.items() if len(k) == 1 and k != v}
    phrases = {k: v for k, v in mapping.items() if len(k) > 1}
    automaton: ahocorasick.Automaton | None = None
    if phrases:
        automaton = ahocorasick.Automaton()
        for key, value in phrases.items():
            automaton.add_word(key, (len(key), value))
        automaton.make_automaton()
    return singles, automaton


def to_simplified(text: str) -> str:
    singles, phrases = _traditional_table()
    if phrases is None:
        return text.translate(singles)
    out: list[str] = []
    position = 0
    for end, (length, value) in phrases.iter_long(text):
        start = end - length + 1
        out.append(text[position:start].translate(singles))
        out.append(value)
        position = end + 1
    out.append(text[position:].translate(singles))
    return "".join(out)


def normalise(text: str) -> str:
    """Width folding and traditional to simplified; no Weibo markup handling."""
    return to_simplified(text.translate(_FULL_WIDTH))


def _clean(part: str) -> tuple[str, tuple[str, ...]]:
    emoticons = tuple(_EMOTICON.findall(part))
    part = _EMOTICON.sub(" ", part)
    part = _REPLY.sub(" ", part)
    part = _MENTION.sub(" ", part)
    part = _SPACES.sub(" ", part).strip()
    if part.lower() in _EMPTY_REPOST_TEXTS:
        part = ""
    return part, emoticons


def prepare(text: str) -> PreparedText:
    """Split and clean a Weibo post; never raises for any ``str``."""
    text = normalise(text)
    text = _URL.sub(" ", text)
    story = _story(text)
    text = _MARKUP.sub(r" \1 ", text)
    text = _TOPIC.sub(r" \1 ", text)
    chain = _REPOST_SPLIT.split(text)
    own = chain[0]
    reposted_parts = chain[1:]
    own_text, own_emoticons = _clean(own)
    cleaned_reposts = [_clean("@" + part) for part in reposted_parts]
    reposted = " ".join(part for part, _ in cleaned_reposts if part)
    reposted_emoticons = tuple(e for _, emoticons in cleaned_reposts for e in emoticons)
    return PreparedText(own_text, reposted, own_emoticons, reposted_emoticons, story)


def story_key(text: str) -> str | None:
    """Which story a post spreads, as a short stable key: the post at the
    end of a repost or reply chain (``comment //@a: reply //@b: original``
    spreads b's original), otherwise the post's own words.

    Reposts of one post, and copies of one text, share a key: a complaint
    reposted ten times in ten minutes is one story told ten times, not ten
    customers. ``None`` when nothing is left after cleaning (then the post
    is its own story). Keys are compared, never shown. ``prepare`` computes
    the same key on the way (``PreparedText.story``): the scorer passes it
    on, so a scored post is not normalised twice.
    """
    return _story(_URL.sub(" ", normalise(text)))


def _story(text: str) -> str | None:
    """``story_key`` of a text already normalised and stripped of URLs."""
    chain = _REPOST_SPLIT.split(text)
    root = _clean("@" + chain[-1] if len(chain) > 1 else chain[0])[0]
    root = _SPACES.sub("", _EMOTICON.sub("", root))
    if not has_content(root):
        return None
    return _short_key(root)


def _short_key(text: str) -> str:
    """8 hex digits for a text: story and copy keys are compared, never shown."""
    # surrogatepass: prepare never raises for any str, lone surrogates included.
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


# What a flood of copies varies from post to post, once ``prepare`` has
# removed emoticons, links and @-mentions: punctuation, symbols and emoji,
# digits, spaces.
_NOT_WORDS = re.compile(r"[\W\d_]+")
COPY_MIN_CHARACTERS = 4


def copy_key(text: str) -> str | None:
    """Which text a post copies, as a short stable key: the author's own
    words only (``prepare``'s ``own_text``), without the punctuation, emoji,
    digits and spaces that a flood of near-identical posts varies (emoticons,
    links and @-mentions are gone already): "太坑了！", "太坑了!!" and
    "太坑了 37" are one text. ``None`` for fewer than COPY_MIN_CHARACTERS
    word characters (too short to call a copy). Meant for posts that are
    not reposts (a repost's own words are its comment)."""
    return copy_key_of_words(prepare(text).own_text)


def copy_key_of_words(own_text: str) -> str | None:
    """``copy_key`` of a text ``prepare`` has cleaned already (the scorer
    has it at hand: no second pass over the post)."""
    words = _NOT_WORDS.sub("", own_text)
    return _short_key(words) if len(words) >= COPY_MIN_CHARACTERS else None


def strip_emoticons(text: str) -> str:
    """Remove ``[xx]`` emoticon tokens (used to evaluate on corpora labeled from them)."""
    return _EMOTICON.sub("", text)
