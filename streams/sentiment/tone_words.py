"""Tone words written by the team: how Weibo users say they are upset or pleased.

Why: the default model (bench/sentiment_build_default.py) learns from
product, hotel and book reviews, the only licence-clean labelled Chinese
text found (docs/sentiment.md). Reviews praise and blame *things*; Weibo
posts mostly say how the writer *feels* (心塞, 蓝瘦香菇, 哭死, 开森), in words
a review corpus hardly has. These lists give the model that vocabulary: each
word goes into training as a short document of its own with its polarity,
``TONE_WORD_REPEATS`` times, next to the reviews, so the model learns a weight
for the word and its character n-grams in the same fit.

Provenance: written for this project from general knowledge of Chinese
usage (licence: the project's own). No corpus, lexicon or word list from
elsewhere was copied. The first list was written before looking at any
labelled post; about 120 words (mostly slang: 丧, mdzz, 蓝瘦香菇, 破防, yyds)
were added after reading 50 misread posts of the *tune* half of weibo2018
(evaluation.tune_report_split), never the report half.

Rules for editing: a word goes in only if it carries the writer's tone in
most uses, whatever the topic; never a brand, product or place name; a word
in both lists is rejected by the tests (tests/test_sentiment_tone_words.py).
Rebuild the default model after any change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# Documents per word in training; on the tune half of weibo2018, 0 / 3 / 10 / 30 / 60 / 100 / 200
# repeats gave AUC 0.763 / 0.781 / 0.803 / 0.827 / 0.838 / 0.842 / 0.841 (the first list, old emoticons).
TONE_WORD_REPEATS = 100

NEGATIVE_TONE_WORDS: tuple[str, ...] = tuple(
    """
    难过 伤心 心痛 心碎 痛苦 悲伤 悲哀 悲剧 悲催 哭 哭了 大哭
    想哭 哭死 泪奔 流泪 眼泪 委屈 心酸 心塞 心累 好累 太累 累死
    疲惫 郁闷 烦 好烦 烦死 烦躁 心烦 焦虑 抑郁 崩溃 绝望 无奈
    无助 孤独 寂寞 失落 失望 沮丧 后悔 遗憾 可惜 惋惜 心疼 生气
    气死 愤怒 火大 恼火 怒 暴躁 发火 吵架 骂 讨厌 厌恶 反感
    恶心 想吐 受不了 忍不了 无法忍受 忍无可忍 害怕 恐怖 可怕 吓死 恐惧 担心
    担忧 紧张 不安 慌 心慌 惊恐 无语 呵呵 醉了 尴尬 坑 坑爹
    坑人 被坑 垃圾 渣 辣鸡 差劲 太差 很差 最差 差评 烂 破
    糟糕 糟透 倒霉 晦气 霉运 惨 好惨 凄惨 骗子 骗人 欺骗 被骗
    忽悠 套路 黑心 无良 无耻 卑鄙 可耻 丢人 丢脸 耻辱 虚伪 恶劣
    嚣张 缺德 变态 奇葩 极品 脑残 智障 傻逼 傻X 傻b sb SB
    尼玛 你妹 卧槽 我靠 靠 妈的 他妈 特么 尼玛的 艹 操 滚
    去死 该死 活该 贱 混蛋 王八蛋 畜生 人渣 病 生病 发烧 感冒
    咳嗽 头疼 头痛 肚子疼 疼 痛 难受 不舒服 失眠 睡不着 熬夜 住院
    手术 去世 离世 死了 走了 逝世 默哀 哀悼 节哀 安息 悼念 遇难
    死亡 牺牲 车祸 地震 事故 灾难 受伤 伤亡 罹难 不爽 不开心 不高兴
    不满 不满意 不公 不公平 不靠谱 不行 不好 没意思 没劲 没用 白费 浪费
    亏 吃亏 损失 赔 被骗了 分手 离婚 出轨 渣男 渣女 背叛 抛弃
    冷漠 冷血 吐槽 抱怨 埋怨 指责 谴责 批评 质疑 怀疑 举报 投诉
    维权 曝光 差 慢 贵 太贵 涨价 缺货 延误 晚点 堵车 拥堵
    排队 等了 穷 没钱 欠 贫穷 压力 加班 失业 辞职 挂科 挂了
    考砸 输了 输 落榜 淘汰 失败 完蛋 完了 毁了 糟了 坏了 丢了
    被偷 小偷 抢劫 打人 暴力 霸凌 欺负 虐待 性骚扰 猥亵 强奸 杀人
    凶手 犯罪 腐败 贪污 唉 哎 哎呀 呜呜 呜呜呜 嘤嘤 555 55555
    T_T QAQ 囧 orz 汗 晕 衰 惆怅 迷茫 纠结 烦恼 苦恼
    痛心 寒心 揪心 闹心 糟心 扎心 心寒 悲愤 气愤 愤慨 痛恨 憎恨
    恨 怨 嫌弃 鄙视 看不起 瞧不起 丧 很丧 好丧 mmp mdzz 蓝瘦
    香菇 蓝瘦香菇 要命 头大 emo 破防 破防了 无力 心力交瘁 筋疲力尽 憋屈 窝火
    气人 坑货 后怕 失联 欺负人 恶心人 扯淡 胡扯 放屁 狗屁 什么鬼 坑死
    吐血 哭晕 卑微 自闭 凉了 凉凉 尬 辣眼睛 不忍直视 无力吐槽 我服了 心态崩了
    炸了 气炸 难吃 难看 难听 难用 丑 劣质 山寨 盗版 骗钱 圈钱
    水军 洗白 甩锅 推卸 敷衍 拖延 不作为 失职 隐瞒 谎言 撒谎 造谣
    谣言 污染 雾霾 噪音 停电 停水 断网 卡顿 闪退 死机 蓝屏 掉线
    """.split()
)

POSITIVE_TONE_WORDS: tuple[str, ...] = tuple(
    """
    开心 高兴 快乐 幸福 喜欢 超喜欢 好喜欢 爱 爱你 爱了 喜爱 热爱
    最爱 哈哈 哈哈哈 哈哈哈哈 嘻嘻 嘿嘿 笑 微笑 大笑 笑死 乐 欢乐
    愉快 欢喜 喜悦 兴奋 激动 满足 满意 舒服 舒适 惬意 轻松 放松
    安心 温暖 温馨 暖心 感动 感恩 感谢 谢谢 多谢 谢谢你 感激 致敬
    敬佩 佩服 崇拜 棒 好棒 真棒 太棒 超棒 赞 点赞 好赞 厉害
    牛 牛逼 真牛 666 给力 优秀 出色 完美 精彩 漂亮 美 好美
    真美 美丽 美好 美味 好吃 好看 好听 好玩 可爱 萌 好萌 帅
    好帅 酷 有趣 有意思 惊喜 惊艳 推荐 值得 划算 实惠 靠谱 专业
    贴心 周到 用心 良心 放心 信赖 支持 加油 努力 奋斗 坚持 梦想
    希望 期待 憧憬 向往 祝 祝福 祝愿 生日快乐 新年快乐 节日快乐 快乐每一天 恭喜
    恭喜恭喜 祝贺 喜讯 好消息 成功 胜利 赢 赢了 夺冠 冠军 获奖 荣获
    荣誉 骄傲 自豪 光荣 幸运 好运 顺利 平安 健康 吉祥 如意 美满
    团圆 甜 甜蜜 浪漫 温柔 善良 真诚 友善 正能量 阳光 晴天 春天
    花开 风景 旅行 度假 周末 假期 美食 大餐 好 很好 真好 太好了
    挺好 不错 很不错 还不错 好评 五星 满分 收到 喜提 入手 买到 终于
    哇 耶 么么哒 么么 亲亲 抱抱 晚安 早安 早上好 晚上好 你好 欢迎
    分享 推荐给 安利 种草 必须 get 学习 知识 收藏 转发 关注 打call
    应援 偶像 男神 女神 宝宝 宝贝 小可爱 开森 嗨皮 happy 爽 好爽
    美滋滋 乐呵 棒棒哒 萌萌哒 爱死 心动 心花怒放 好开心 超开心 元气满满 治愈 小确幸
    锦鲤 欧气 牛掰 绝了 yyds 爷青回 awsl 绝绝子 nice 团聚 家人 闺蜜
    陪伴 守护 一起 冲鸭 值了 圆满 撒花 庆祝 干杯 美翻 真香
    """.split()
)


def tone_words_sha256() -> str:
    """The lists' fingerprint, stored in the default model's metadata: a model says which lists built it."""
    joined = "\n".join(("+", *POSITIVE_TONE_WORDS, "-", *NEGATIVE_TONE_WORDS))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def with_tone_words(positive: Sequence[str], negative: Sequence[str], repeats: int) -> tuple[list[str], list[str]]:
    """Training texts with each tone word added ``repeats`` times to its side."""
    return [*positive, *POSITIVE_TONE_WORDS * repeats], [*negative, *NEGATIVE_TONE_WORDS * repeats]


def tone_words_metadata(repeats: int) -> dict[str, object]:
    """What a model trained ``with_tone_words`` records of them."""
    return {"positive": len(POSITIVE_TONE_WORDS), "negative": len(NEGATIVE_TONE_WORDS), "repeats": repeats,
            "sha256": tone_words_sha256()}
