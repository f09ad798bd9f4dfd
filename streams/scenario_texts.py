"""The phrase bank of ``koubei scenario``: every sentence here was written for
this project (no scraped posts), for four fictional brands.

Templates are Python ``str.format`` strings. Slots:

* ``{b}``  how the post names the brand (one of the brand's mention forms);
* ``{p}``  one of the brand's products;
* ``{n}``  a small number, ``{price}`` a price, ``{city}`` a city;
* ``{u}``  another user's nickname (for ``@`` mentions).

Sentences are grouped by what a post is *about* (praise, a complaint with its
aspect, neutral news, a question, crisis talk ...) because the generator
decides the topic first and the wording second: the labels say what a
scenario contains, the wording only has to be varied and plausible.

The crisis sentences deliberately use the vocabulary of a Weibo pile-on
(曝光, 过期, 召回, 投诉, 维权, 致癌, 爆炸, 退款, 翻车, 塌房, 避雷): that is what
the detector's risk terms and the sentiment model are meant to pick up.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BrandProfile:
    id: str
    name: str
    # Forms a post uses to name the brand, most frequent first.
    mentions: tuple[str, ...]
    # What the generated koubei.yaml lists: mention forms that are not already
    # covered by a shorter alias, plus the traditional-script spelling.
    aliases: tuple[str, ...]
    # Phrases that contain an alias but are not the brand (the exclusion trap).
    exclude: tuple[str, ...]
    # Whole posts that contain an excluded phrase and no real brand mention.
    trap_posts: tuple[str, ...]
    products: tuple[str, ...]
    praise: tuple[str, ...]
    complaints: dict[str, tuple[str, ...]]
    news: tuple[str, ...]
    questions: tuple[str, ...]
    crisis: tuple[str, ...]
    crisis_news: tuple[str, ...]
    bot_flood: tuple[str, ...]
    viral_praise: tuple[str, ...]
    launch: tuple[str, ...]
    hashtags: tuple[str, ...]
    crisis_hashtags: tuple[str, ...] = field(default=())


ASPECTS = ("quality", "service", "refund", "safety", "price", "delivery")

XINGHE = BrandProfile(
    id="xinghe",
    name="星河手机",
    mentions=("星河手机", "星河", "星河手机", "星河", "Xinghe", "星河官方", "星河手機"),
    aliases=("星河", "xinghe"),
    exclude=("星河璀璨", "满天星河", "星河大海", "银河星河"),
    trap_posts=(
        "昨晚在山顶看到了满天星河，太震撼了[哈哈]",
        "星河璀璨，愿你我都被温柔以待",
        "我们的征途是星辰大海，也是星河大海",
        "今晚的夜空像一幅画，银河星河一目了然 #观星#",
        "写了一首小诗：满天星河落人间，灯火可亲",
    ),
    products=("星河青春版", "星河畅享", "X9 Pro", "Note 12", "S3平板", "GT手表", "Air耳机"),
    praise=(
        "{b}的{p}拍照是真的好，夜景直接封神[赞]",
        "用了半年{p}，续航依旧很顶，给{b}点赞",
        "{b}这次系统更新很流畅，动画丝滑了不少",
        "入手{p}一周，手感很好，屏幕也很舒服，推荐",
        "{p}的性价比真的可以，{price}元这个配置很香",
        "没想到{p}的信号这么稳，地铁里刷视频都不卡",
        "{b}yyds，{p}用着很舒服 nice",
    ),
    complaints={
        "quality": (
            "{p}用了不到{n}个月屏幕就出现绿线，{b}这品控也太差了",
            "{b}的{p}发热严重，打游戏十分钟就烫手",
            "{p}电池掉电太快了，一天三充，{b}能不能管管",
            "{b}新系统更新完各种卡顿闪退，还不如不更新",
            "{p}的摄像头进灰了，才买{n}周，质量太差",
        ),
        "service": (
            "{b}客服电话打了{n}次都没人接，服务太差了",
            "去{b}售后修手机，排队两小时，态度还很冷漠",
            "{b}的客服只会复制粘贴，问题一个没解决",
        ),
        "refund": (
            "{p}有问题申请退货，{b}拖了{n}天还没退款",
            "{b}退款流程太麻烦，七天无理由被各种刁难",
        ),
        "safety": (
            "{p}充电的时候突然冒烟，吓死我了，{b}给个说法",
            "{b}的充电器用着会发烫，不敢放床头",
        ),
        "price": (
            "{b}这次涨价也太狠了，{p}贵了{n}百块",
            "刚买{p}就降价{n}百，{b}不保价，心塞[泪]",
        ),
        "delivery": (
            "{b}官网下单{n}天了还没发货，说好的现货呢",
            "{p}快递送到了盒子是破的，{b}物流太不靠谱",
        ),
    },
    news=(
        "媒体评测：{p}与同价位机型横向对比",
        "{b}推送新版本系统，优化了续航与相机",
    ),
    questions=(
        "{b}的{p}值得入手吗？预算{price}左右",
    ),
    crisis=(
        "曝光！{b}的{p}充电时爆炸起火，网友家里沙发都烧了[怒]",
        "{b}{p}电池爆炸事件越闹越大，官方还在装死，太恶心了",
        "我的{p}昨晚也鼓包了，差点爆炸，{b}必须召回！",
        "{b}电池爆炸都第几起了？必须投诉到工信部，维权到底",
        "避雷{b}！{p}电池有安全隐患，家里有孩子的千万别买",
        "{b}这次彻底翻车了，电池爆炸还说是用户使用不当，无耻",
        "已经在{b}售后门口排队要求退款了，{p}谁还敢用[怒][怒]",
        "{b}塌房了，用了五年的老粉彻底失望，再也不买了",
        "{p}爆炸视频看得我后背发凉，{b}给个交代！退款！召回！",
        "消协已接到大量关于{b}{p}电池起火的投诉，强烈要求全面召回",
        "{b}公关太差劲了，出了爆炸事故就删帖控评，恶心",
        "家人们快检查一下{p}的电池，{b}出大事了，起火爆炸",
    ),
    crisis_news=(
        "{city}一名用户称{b}{p}充电时起火，{b}回应称正在调查",
        "{b}就{p}电池起火事件发布声明，称将配合检测",
        "记者调查：{b}{p}电池供应商曾被曝光质量问题",
        "市场监管部门已约谈{b}，要求说明{p}电池安全情况",
    ),
    bot_flood=(
        "{b}的{p}电池会爆炸，大家千万别买，避雷避雷！",
        "{b}手机质量垃圾，{p}爆炸了还不认账，抵制{b}！",
    ),
    viral_praise=(
        "{b}给暴雨受灾地区捐赠一千万和五千台手机，野性消费走起！[赞]",
        "被{b}感动到了，自己不宣传默默捐款，必须支持！",
    ),
    launch=(
        "{b}发布会的PPT有点敷衍，{p}感觉一般般",
        "蹲一个{p}的真机评测，{b}发布会看得不过瘾",
    ),
    hashtags=("#星河手机#", "#星河X9#", "#数码测评#", "#手机推荐#"),
    crisis_hashtags=("#星河手机电池爆炸#", "#星河X9起火#", "#星河手机召回#"),
)

CHENGUANG = BrandProfile(
    id="chenguang",
    name="晨光乳业",
    mentions=("晨光乳业", "晨光", "晨光牛奶", "晨光乳业", "晨光乳業"),
    aliases=("晨光", "chenguang"),
    exclude=("早晨光", "晨光熹微", "清晨光"),
    trap_posts=(
        "早晨光线太好了，随手一拍就是大片",
        "晨光熹微，出门跑步五公里打卡 #晨跑#",
        "喜欢清晨光影洒在书桌上的感觉",
        "冬天早晨光是起床就用尽了全部力气[泪]",
        "晨光熹微时的西湖，美得不像话",
    ),
    products=("晨光纯牛奶", "晨光酸奶", "晨光儿童奶", "晨光低脂奶", "晨光奶粉", "晨光鲜奶"),
    praise=(
        "{b}的{p}口感很醇，每天早上一杯[赞]",
        "孩子就爱喝{b}{p}，回购好多次了",
        "{b}{p}味道很好，不会太甜，推荐",
        "{p}冰一下更好喝，{b}yyds",
        "一直喝{b}，奶味很浓，价格也实惠",
        "{b}的新品{p}好喝到停不下来[哈哈]",
        "早餐标配：全麦面包加{b}{p}，健康又好吃",
        "超市{p}打折，囤了两箱，{b}永远的神",
    ),
    complaints={
        "quality": (
            "今天喝的{b}{p}有股怪味，不知道是不是坏了",
            "{p}打开有结块，{b}的品控越来越差了",
            "{b}{p}喝完拉肚子，以后不敢买了",
        ),
        "service": (
            "给{b}客服反映{p}的问题，态度敷衍，说会回电一直没回",
            "{b}热线永远占线，投诉无门",
        ),
        "refund": (
            "{p}胀袋了申请退款，{b}拖了{n}天不处理",
            "{b}网店买的{p}坏了，客服不给退款只给优惠券",
        ),
        "safety": (
            "{b}{p}的生产日期看不清，喝着有点不放心",
            "在便利店买到快过期的{b}{p}，还在正常价卖",
        ),
        "price": (
            "{b}{p}又涨价了，一箱贵了{n}块",
            "{p}越来越贵，量还变少了，{b}太会了",
        ),
        "delivery": (
            "{b}的鲜奶配送又晚了{n}小时，奶都不冰了",
            "订的{b}{p}三天没送到，物流太慢",
        ),
    },
    news=(
        "{b}发布年度报告，营收同比增长{n}%",
        "{b}推出新品{p}，主打零添加",
        "行业观察：{b}等乳企加码低温奶市场",
    ),
    questions=(
        "{b}{p}和其他牌子比哪个好？给娃选奶中",
        "有人知道{b}{p}哪里买最便宜吗",
    ),
    crisis=(
        "曝光！{b}{p}被检出致癌物黄曲霉毒素超标，家里还有两箱[怒]",
        "{b}{p}致癌物超标，孩子喝了半年，当妈的心都碎了[泪]",
        "{b}用过期奶重新包装出售？这要是真的必须严查！",
        "避雷{b}！过期原料、致癌物超标，什么都敢卖",
        "{b}塌房了，喝了十几年，彻底失望",
        "已经打12315投诉{b}了，要求退款并全面召回{p}",
        "{b}出事了，{p}检出致癌物，大家别喝了，快扩散",
        "组团维权！买了{b}{p}的家长们联系我",
        "{b}彻底翻车，过期奶换日期标签再卖，太恶心了[怒]",
        "超市已经把{b}的{p}下架了，退款排长队",
        "{b}这种黑心企业必须严惩，孩子的健康不是儿戏",
        "{b}的回应太敷衍了，一句配合调查就完了？退款！召回！",
    ),
    crisis_news=(
        "{city}市场监管局通报：{b}一批次{p}黄曲霉毒素M1不合格",
        "{b}发布声明：已对问题批次{p}启动召回",
        "媒体暗访{b}工厂：过期原料被重新使用",
        "{b}股价盘中大跌{n}%，问题{p}已被多地下架",
    ),
    bot_flood=(
        "{b}的{p}致癌！大家千万别喝！转发扩散！",
        "抵制{b}黑心奶！过期原料致癌，坑害孩子！",
    ),
    viral_praise=(
        "{b}给山区学校捐了一年的牛奶，这波必须支持[赞]",
        "{b}默默做了这么多公益，野性消费安排上",
        "今天去超市把{b}的{p}买空了，支持良心企业",
        "原来{b}一直在资助贫困学生，路转粉[赞]",
    ),
    launch=(
        "{b}新品发布会：{p}主打高蛋白",
        "{b}今天上新{p}，有人喝过吗",
        "{b}{p}包装换新了，挺好看的",
        "{b}和{city}博物馆联名的{p}出来了",
        "{b}新品{p}尝了一下，味道中规中矩",
    ),
    hashtags=("#晨光乳业#", "#晨光纯牛奶#", "#早餐吃什么#", "#喝奶打卡#"),
    crisis_hashtags=("#晨光牛奶致癌#", "#晨光乳业过期奶#", "#晨光召回#"),
)

YUNFAN = BrandProfile(
    id="yunfan",
    name="云帆航空",
    mentions=("云帆航空", "云帆", "云帆航空", "@云帆航空", "雲帆航空"),
    aliases=("云帆", "雲帆", "yunfan"),
    exclude=("云帆济沧海", "云帆沧海"),
    trap_posts=(
        "长风破浪会有时，直挂云帆济沧海，高考加油！",
        "愿你直挂云帆济沧海，新的一年一切顺利",
        "毕业季：直挂云帆沧海去，前程似锦",
        "今日书法练习：直挂云帆济沧海 #练字#",
    ),
    products=("云帆会员", "云帆经济舱", "云帆公务舱", "云帆App", "云帆里程", "云帆航班"),
    praise=(
        "{b}的空乘小姐姐好温柔，全程服务很贴心[赞]",
        "{b}准点起飞准点到达，体验不错",
        "坐了{b}的公务舱，餐食好吃，座椅也舒服",
        "{b}App值机很方便，三秒钟就选好座位",
        "{b}机组帮我找到了落在座位上的钱包，感谢[泪]",
        "这次{b}升舱了，开心[哈哈]",
    ),
    complaints={
        "quality": (
            "{b}的座椅又破又窄，坐了{n}小时腰都断了",
            "{b}飞机上空调太冷，毯子还要钱",
        ),
        "service": (
            "{b}航班延误{n}小时，没有任何解释，服务太差",
            "{b}地勤态度恶劣，问个问题爱答不理",
            "{b}客服电话等了四十分钟，最后挂断了[怒]",
        ),
        "refund": (
            "{b}退票手续费高得离谱，{price}的票扣了一大半",
            "航班取消了{b}说退款{n}个工作日，一个月了还没到账",
        ),
        "safety": (
            "{b}今天颠簸得厉害，机组广播都没有，吓到了",
            "{b}的行李架没关好，差点砸到人",
        ),
        "price": (
            "{b}节假日机票贵得离谱，{city}来回要{price}",
            "{b}行李额又缩水了，多一公斤收{n}十块",
        ),
        "delivery": (
            "{b}把我的行李弄丢了，{n}天了还没找到",
            "到了{city}行李箱轮子被摔坏，{b}说不赔",
        ),
    },
    news=(
        "{b}开通{city}直飞新航线",
        "{b}引进新一代宽体客机",
        "{b}推出暑期特价机票，{city}单程{price}元起",
        "{b}获评年度准点率优秀航司",
    ),
    questions=(
        "{b}的{p}怎么兑换里程啊",
        "明天坐{b}去{city}，会不会延误",
        "{b}儿童票怎么买？求指导",
    ),
    crisis=(
        "曝光！{b}航班上乘客被暴力拖下飞机，视频看得我发抖[怒]",
        "{b}超售还把乘客拖下飞机，这是什么服务？投诉！",
        "坚决抵制{b}，以后打死都不坐了，避雷！",
        "{b}翻车了，暴力驱赶乘客还说是按规定执行",
        "已经向民航局投诉{b}，要求道歉赔偿，维权到底",
        "{b}紧急迫降的时候机组全程没有广播，乘客吓哭了[泪]",
        "{b}的安全隐患太多了，退款退款，这趟不坐了",
        "{b}塌房，曾经最爱的航司变成这样",
        "{b}的道歉声明毫无诚意，删评控评太恶心",
        "同一天{b}又出事了，发动机冒烟返航，还敢坐吗",
        "大家转发！{b}暴力执法视频，必须给个说法[怒]",
    ),
    crisis_news=(
        "{b}一航班在{city}机场发生乘客被强制带离事件，民航局介入调查",
        "{b}发布致歉声明，涉事员工已停职",
        "{b}一航班发动机故障紧急备降{city}，无人员受伤",
        "{b}股价应声下跌{n}%",
    ),
    bot_flood=(
        "{b}暴力驱赶乘客，垃圾航司，大家抵制{b}！",
        "{b}毫无安全保障，坐{b}就是拿命开玩笑，避雷！",
    ),
    viral_praise=(
        "{b}机长紧急救治乘客的视频看哭了，致敬[赞]",
        "{b}免费运送救灾物资，这才是国家队",
        "以后出行首选{b}，有温度的航司[赞]",
        "{b}这波操作圈粉了，已经办了{p}",
    ),
    launch=(
        "{b}新涂装飞机亮相{city}机场",
        "{b}周年庆特价票开抢，{city}往返{price}元",
        "{b}{p}升级，里程可以抵扣票价了",
        "抢到了{b}的周年庆特价票[哈哈]",
    ),
    hashtags=("#云帆航空#", "#出行#", "#飞行日记#", "#民航#"),
    crisis_hashtags=("#云帆航空暴力驱赶乘客#", "#云帆航空道歉#", "#云帆航空迫降#"),
)

QINGHE = BrandProfile(
    id="qinghe",
    name="青禾咖啡",
    mentions=("青禾咖啡", "青禾", "青禾咖啡", "青禾Coffee", "青禾家"),
    aliases=("青禾", "qinghe"),
    exclude=("青禾苗", "青禾田"),
    trap_posts=(
        "田里的青禾苗长得真快，一场雨就绿了一大片",
        "周末去乡下看青禾田，空气太好了 #周末去哪儿#",
        "外婆家的青禾苗，小时候的夏天",
        "青禾田边散步，蛙声一片",
    ),
    products=("青禾拿铁", "生椰青禾", "青禾美式", "桂花拿铁", "青禾冷萃", "燕麦拿铁"),
    praise=(
        "{b}的{p}太好喝了，今日份快乐[哈哈]",
        "{b}新品{p}绝了，奶香和咖啡很平衡[赞]",
        "打工人续命靠{b}，{p}yyds",
        "{b}店员小哥哥超有礼貌，咖啡拉花也好看",
        "{p}才{price}块，{b}性价比很高",
        "{b}的环境好适合办公，安静又有插座",
        "{b}联名杯子好可爱，冲了[哈哈]",
    ),
    complaints={
        "quality": (
            "今天{b}的{p}好苦，像是豆子放久了",
            "{b}{p}冰块多咖啡少，越来越敷衍",
            "{b}的{p}甜到齁，下次不点了",
        ),
        "service": (
            "{b}外卖等了{n}分钟，到手都凉了",
            "{b}店员做错单还不承认，态度很差",
        ),
        "refund": (
            "{b}小程序扣了两次钱，申请退款{n}天没处理",
            "{b}的{p}洒了一半，客服只给退{n}块",
        ),
        "safety": (
            "{b}的杯盖没盖好，烫到手了",
            "在{b}{p}里喝出一根头发，有点恶心",
        ),
        "price": (
            "{b}{p}又涨价了，都快{price}块一杯了",
            "{b}的优惠券越来越少，不香了",
        ),
        "delivery": (
            "{b}外卖送错地址了，打电话也没人管",
            "{b}配送超时{n}分钟，咖啡都化了",
        ),
    },
    news=(
        "{b}全国门店突破{n}千家",
        "{b}宣布完成新一轮融资",
    ),
    questions=(
        "{city}哪家{b}环境最好？求推荐",
    ),
    crisis=(
        "曝光！{b}门店后厨老鼠乱窜，视频太恶心了[怒]",
        "{b}用过期牛奶做{p}被员工曝光，我昨天还喝了[吐]",
        "避雷{b}！过期原料改标签继续用，卫生极差",
        "{b}塌房了，天天喝的{p}居然是这样做出来的",
        "已经投诉{b}了，要求退款，还要求给个说法",
        "{b}翻车现场：篡改原料保质期，恶心到吐",
        "喝了{b}的{p}上吐下泻，是不是原料过期了？维权！",
        "{b}必须停业整顿，食品安全不是小事",
        "大家别喝{b}了，过期原料+老鼠，太可怕了[怒][怒]",
        "{b}的道歉声明全是套话，退款！",
    ),
    crisis_news=(
        "{city}市场监管部门连夜检查{b}门店，责令涉事门店停业整改",
        "{b}发布致歉声明：涉事门店已关停",
        "媒体卧底{b}：原料过期后更换标签继续使用",
    ),
    bot_flood=(
        "{b}用过期原料，老鼠乱窜，大家别喝了！避雷！",
        "抵制{b}！卫生极差，坑害消费者！",
    ),
    viral_praise=(
        "冲着{b}做公益的态度，以后只喝{b}",
    ),
    launch=(
        "{b}秋季新品{p}今天上市",
        "{b}{p}试喝报告：偏甜，适合不爱苦的人",
    ),
    hashtags=("#青禾咖啡#", "#今日咖啡#", "#打工人续命#", "#咖啡探店#"),
    crisis_hashtags=("#青禾咖啡过期原料#", "#青禾咖啡后厨#", "#青禾咖啡道歉#"),
)

PROFILES: dict[str, BrandProfile] = {p.id: p for p in (XINGHE, CHENGUANG, YUNFAN, QINGHE)}

# Sentences that fit every brand; the generator draws from the brand's own
# list and these together. SnowNLP reads brand and product names with a
# bias of their own (星河 alone scores 0.75 negative), so these were checked
# against the project's scorer to keep calm traffic at a realistic share
# of negative posts.
GENERIC_PRAISE = (
    "{b}的{p}真的很好，强烈推荐",
    "喜欢{b}，{p}用起来很舒服",
    "{b}的{p}太好了，爱了爱了",
    "{b}的服务很贴心，点赞",
    "{b}{p}性价比很高，值得购买",
    "{b}这次的新品很好看，喜欢",
    "{b}的{p}体验很好，会继续支持",
    "{b}和朋友们都很喜欢的{p}，推荐",
    "{b}售后服务很好，很快就处理好了，满意",
    "给爸妈买了{b}，他们很喜欢，很满意",
    "{b}{p}上手体验：做工不错，细节很好",
)
GENERIC_NEWS = (
    "{b}新品{p}下周预售，很值得期待",
    "{b}宣布在{city}新开旗舰店，装修很漂亮",
    "{b}与{city}企业达成战略合作，共同发展",
    "{b}年度报告：营收稳步增长，表现不错",
    "{b}入选年度消费者喜爱品牌榜单",
    "{b}上线新版会员体系，福利更多了",
    "{b}开展品牌开放日活动，欢迎消费者参观",
    "{b}在{city}举办粉丝见面会，现场气氛很好",
    "{b}公布季度业绩，销量同比增长{n}%，表现不错",
    "{b}在{city}的新工厂正式投产，产能提升",
    "行业观察：{b}稳步扩张，市场份额提升",
)
GENERIC_QUESTIONS = (
    "{b}的{p}适合学生党吗？求推荐",
    "{b}周末有活动吗？想去看看",
    "{b}最近有优惠活动吗？想入手{p}",
    "有没有{b}{p}的使用心得分享一下",
    "{b}的{p}好用吗？准备入手",
    "{b}的{p}值得买吗？求推荐",
)
GENERIC_LAUNCH = (
    "{b}发布会很精彩，{p}亮点很多",
    "{b}新品{p}颜值很高，期待上手",
    "{b}发布会上的{p}很惊艳，想买",
    "{b}新品首发，现场很热闹",
    "{b}发布{p}，起售价{price}元，很值得期待",
)
GENERIC_VIRAL = (
    "{b}捐赠救灾物资，很有担当，支持",
    "{b}做公益很用心，必须支持[赞]",
    "为{b}点赞，有社会责任感的好企业",
    "{b}这次公益行动太暖心了，路转粉",
    "{b}的员工帮助了很多人，感动，支持",
)

# Every viral moment has its cynics; they make a praise spike carry a few
# more negative posts in absolute numbers while the negative share falls.
VIRAL_SKEPTIC = (
    "{b}又在作秀了吧，营销号别刷了",
    "捐这么点就全网宣传，{b}公关真厉害",
    "之前的质量问题怎么不提了？{b}洗白挺快",
    "野性消费完记得理性售后，{b}的坑我可踩过",
)

CITIES = ("北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆", "长沙", "苏州")

NEG_EMOTICONS = ("[怒]", "[泪]", "[抓狂]", "[衰]", "[吐]", "[弱]", "[生病]")
POS_EMOTICONS = ("[哈哈]", "[赞]", "[心]", "[鼓掌]", "[给力]", "[太开心]", "[爱你]")
NEUTRAL_EMOTICONS = ("[doge]", "[思考]", "[允悲]", "[吃瓜]", "[围观]")

NEG_TAILS = (
    "真的无语了", "再也不会买了", "希望官方给个说法", "气死了", "太失望了",
    "服了", "有同样遭遇的吗", "心累", "really disappointed", "what a joke",
)
POS_TAILS = ("推荐给大家", "会回购的", "爱了爱了", "太棒了", "开心", "love it", "so good", "冲")
NEUTRAL_TAILS = ("", "", "蹲一个后续", "大家怎么看", "mark一下", "插眼", "FYI")

# "转发微博" is what the Weibo client fills in when a user adds nothing; it
# is by far the most common repost comment, hence listed several times.
REPOST_COMMENTS = (
    "转发微博", "转发微博", "转发微博", "转发微博", "mark", "哈哈哈哈", "支持", "关注了", "蹲后续",
    "说得对", "真的假的？", "太离谱了", "同感", "我也是", "已阅", "啊这", "转", "学到了",
)
CRISIS_REPOST_COMMENTS = (
    "扩散！", "太可怕了", "必须严查", "避雷", "转发让更多人看到", "我家也有", "已投诉",
    "维权+1", "恶心", "退款退款", "怒转", "别喝了", "不敢用了",
)
REPLIES_NEG = ("我也遇到了", "一样，太坑了", "同款问题", "赶紧投诉", "我也在等退款")
REPLIES_POS = ("同意", "我也觉得不错", "好看！", "求链接", "种草了", "谢谢分享", "确实不错", "我也很喜欢",
               "哈哈哈哈", "好的，谢谢", "可以试试")

# Everyday posts that mention none of the brands: a real keyword stream is
# never only about you.
UNRELATED = (
    "今天的晚霞好美", "周一综合症又犯了", "加班到十点，回家吃泡面", "新剧太好看了，熬夜追完",
    "楼下新开了一家面馆，味道不错", "终于周末了[哈哈]", "健身第{n}天打卡", "下雨天适合睡觉",
    "考研倒计时{n}天，加油", "猫主子今天又拆家了[doge]", "地铁好挤", "{city}今天好热",
)

FIRST_NAMES = (
    "小鱼", "阿Q", "momo", "橘子", "大白", "麦兜", "Lily", "小确幸", "咸鱼", "星星", "柚子",
    "阿杰", "Kevin", "豆豆", "奶茶", "小熊", "木木", "七七", "Tony", "糖糖", "阿狸", "土豆",
)
NAME_PARTS = (
    "爱吃鱼", "的日常", "酱", "不加糖", "在路上", "要努力", "同学", "_", "想发财", "今天也要开心",
    "本人", "睡不醒", "的树洞", "说", "爱旅行", "摄影", "吃货", "2020", "呀", "君",
)
BIG_V_NAMES = (
    "数码老王", "{city}生活圈", "财经观察家", "科技前线", "吃瓜第一线", "消费维权观察", "热点速递",
    "{city}新闻", "美食探店达人", "航空爱好者联盟", "育儿百科", "咖啡研究所", "每日热搜榜",
)

# Simplified -> traditional for the characters that occur most in the bank;
# a few posts in every scenario are written in traditional script (Hong Kong,
# Taiwan and overseas users post too).
TRADITIONAL = str.maketrans({
    "么": "麼", "这": "這", "个": "個", "们": "們", "说": "說", "买": "買", "卖": "賣", "发": "發",
    "货": "貨", "没": "沒", "东": "東", "机": "機", "电": "電", "题": "題", "问": "問", "务": "務",
    "质": "質", "关": "關", "为": "為", "会": "會", "时": "時", "后": "後",
    "还": "還", "过": "過", "给": "給", "钱": "錢", "样": "樣", "体": "體", "气": "氣", "乐": "樂",
    "对": "對", "应": "應", "该": "該", "实": "實", "态": "態", "爱": "愛", "难": "難", "觉": "覺",
    "欢": "歡", "处": "處", "边": "邊", "话": "話", "见": "見", "开": "開", "门": "門", "长": "長",
    "让": "讓", "听": "聽", "从": "從", "动": "動", "业": "業", "云": "雲", "险": "險", "检": "檢", "费": "費", "级": "級", "热": "熱", "饭": "飯",
})
