"""The rule reader's tables: intent cues, hedges, concern keywords, reason cues (how they are
used: bot/understanding/rules.py). Patterns only; nothing the bot says belongs here."""

from __future__ import annotations

import re

from bot.vocab import CONCERNS  # noqa: F401

# --------------------------------------------------------------------------------------
# Tables. Patterns run on normalised text (NFKC + lower case): write "," not "，",
# "?" not "？", "!" not "！", "..." not "…"; "。" and "、" stay as they are.
# --------------------------------------------------------------------------------------

# Ties between intents with equal scores go to the earlier one.
PRECEDENCE = ("decline", "hesitate", "question", "accept", "other")

# A reply that is only a menu choice: "1", "选2", "3哈", "1."
MENU_RX = re.compile(r"^(?:我?选|回复)?\s*([123])\s*(?:号|个)?\s*[哈呀啦哒滴吧嗯~!.。]*$")
MENU = {"1": "accept", "2": "decline", "3": "question"}

_END = r"(?=$|[^\w]|[哈呀啦哒滴的呢哦嘛啊吧了])"  # end of a short word in chat Chinese

# (intent or None, weight, patterns). Scanned in this order; a match consumes its span.
# fmt: off
INTENT_CUES: tuple[tuple[str | None, int, tuple[str, ...]], ...] = (
    # --- 1. idioms and negations that must be read before their parts -----------------
    ("hesitate", 3, (
        r"(?:并)?不是不(?:想|愿意|愿|打算|接受|来|去)", r"not that i don'?t want",
        r"not saying no", r"haven'?t (?:said|decided) no",
        r"(?:有点|有些|比较|挺|还是)(?:难以?|不好)接受", r"(?:有点|有些)接受不了",
    )),
    ("accept", 2, (
        r"没(?:什么|有|啥)?问题", r"no problem", r"not a problem", r"没(?:有)?意见",
        r"works for me", r"sounds good", r"没毛病", r"没(?:有)?(?:什么|啥)?异议", r"on board",
        r"(?:i'?m|i am) (?:good|fine|ok|okay) with", r"let'?s do (?:it|this)",
    )),
    (None, 0, (
        r"考虑好了", r"想好了", r"决定好了",
        r"(?:考虑|想|对比|比较)了(?:一下|下|想|几天|很久|一段时间|好久|两天|一晚上)?.{0,4}"
        r"(?=还是|决定|最终)",
        r"商量(?:过|好)了?", r"talked it over", r"discussed it with", r"thought it over",
        r"(?<![不没])(?:想|很想|挺想|非常想)(?:接受|来|加入|去)(?:的)?",
        r"(?:顾|忙|转|反应|缓)不过来", r"顾不上", r"questions? later", r"whether to accept",
        r"期待(?:您|你)的回复", r"(?:you|they|we) (?:can|could|would|will) accept",
        r"(?:before|when|whether) (?:i )?(?:should |can |must |have to )?accept",
    )),
    ("decline", 1, (
        r"经过(?:慎重|认真|仔细|再三|反复|深思熟虑)?的?考虑", r"(?:after )?careful consideration",
        r"unfortunately", r"很遗憾", r"遗憾地",
    )),
    ("other", 2, (
        r"在吗", r"(?:请问)?(?:您|你)?是哪位", r"(?:您|你)是谁", r"who (?:is this|are you)",
        r"发错了?", r"wrong (?:chat|person|number)",
        r"(?:周末|节日|新年|春节|中秋|国庆)(?:愉快|快乐)", r"happy new year",
        r"have a (?:nice|good|great) (?:day|weekend)",
        r"(?:check|look|read|reply|respond|talk|chat)\w* (?:(?:at|into|to) )?(?:it |you )?later",
        r"稍后(?:联系|回复|再?聊|再看)", r"晚(?:点|些|上)(?:再)?(?:聊|说|看|回)", r"回头(?:再)?聊",
        r"^(?:hi|hello|hey|你好|您好|哈喽|嗨)(?: there)?[\s,.!?~]*$",
    )),
    # --- 2. decline: choosing someone else, refusing, backing out -----------------------
    ("decline", 3, (
        r"(?:决定|选择|打算|准备|已经)?(?:去|接|接受|签|入职|加入|答应)了?(?:其他|其它|别|另一?|另外)"
        r"(?:的|一)?(?:家|个|公司|offer|机会|地方)",
        r"选择了?(?:其他|其它|别的|另一?个|另外)",
        r"accepted (?:an|another|a different) (?:offer|position|job|role)",
        r"(?:going|decided to go|chose|choose|chosen) (?:with|to) (?:another|a different|other)",
        r"(?:不|无法|不能|没法|没办法|不会|不再|难以)(?:接受|接)(?:这个|这份|贵司的|你们的)?(?:offer)?",
        r"接受不了", r"拒绝", r"婉拒", r"放弃", r"决定(?:不|还是不|暂不)", r"还是决定",
        r"还是不(?:想|打算|去|来|考虑|接受|入职)", r"决定留(?:在|下)",
        r"decided to (?:stay|remain|keep my)",
        r"(?:not|n't) (?:going to |gonna )?(?:take|accept) (?:the|this|your)"
        r" (?:offer|job|position|role)",
        r"不打算(?:入职|来|去|接受|加入)", r"(?:not|never|unable to|n't)\s+(?:\w+\s+){0,3}accept",
        r"decided (?:not|to decline|against)", r"\bdecline", r"turn(?:ing)? down", r"regret to",
        r"(?:not|n't) (?:be )?(?:joining|coming|proceed|starting|taking)",
        r"can(?:no|')t (?:take|join|make it|come)", r"no longer (?:join|com|interest|able)",
        r"withdraw",
        r"(?:join|joining|go with|going with|accept(?:ed)?|sign(?:ed)? with|signed|go to|going to)"
        r" (?:another|a different|the other|other) (?:company|offer|firm|team|role|position)",
    )),
    ("decline", 2, (
        r"不考虑了?", r"先不考虑", r"暂不考虑", r"不用考虑了",
        r"(?:去|来|入职|报到|过去|过来)不了",
        r"(?:不能|无法|没法|没办法)(?:按时)?(?:去|来|入职|报到|到岗)",
        r"不(?:想|打算|会|准备)?(?:过)?(?:去|来)(?:了|啦|哦|哈|啊|呢|贵司|你们)*" + _END,
        r"不想(?:去|来)", r"只能(?:说)?(?:声)?(?:抱歉|对不起|说不)", r"changed my plans?",
        r"found (?:something|another|a (?:new|different|better))",
        r"找到了?(?:别的|其他|更好的|合适的)", r"不入职", r"不接了", r"不签了?",
        r"不(?:过去|过来)了", r"算了(?:吧)?" + _END, r"拒(?:了|掉)", r"^不了",
        r"谢谢(?:您的)?好意", r"另有(?:打算|安排)", r"留下来", r"我去那边", r"去别家",
        r"感谢.{0,12}(?:认可|厚爱|青睐|机会|邀请|offer).{0,4}(?:但|不过|可惜)",
        r"已经有了?.{0,6}(?:选择|offer|去处)", r"(?<!适)不(?:太)?适合我", r"i'?ll pass",
        r"pass on", r"(?:have|going) to pass", r"^no\b", r"so no\b", r"no,? thank", r"i'?m out\b",
        r"changed my mind", r"dealbreaker", r"deal breaker", r"i'?m staying",
        r"not (?:what i'?m|for me)", r"isn'?t what i'?m looking",
        r"won'?t (?:be able to )?(?:join|come|make it)", r"没(?:有)?兴趣", r"不感兴趣",
        r"not interested", r"^(?:nope|nah)\b", r"count me out",
        r"(?:have to|must|going to|gonna|will|'ll) say no", r"i'?(?:ll|m going to) stay",
        r"不愿意",
    )),
    # --- 3. hesitate: thinking, waiting, negotiating, worrying ---------------------------
    ("hesitate", 3, (
        r"(?:能否|能不能|可否|可不可以|可以|还能|是否可以|是否能|能)再?(?:谈|商量|争取|议|调整|评估)",
        r"再(?:谈|商量|争取|议)一?下?", r"(?:商量|谈|议价|调整)的?空间", r"还有.{0,4}空间",
        r"(?:能不能|能否|可不可以|可否|还能|能|可以)再?(?:往上)?(?:提(?!前|交|供)|加(?!班)|涨|高|多给|调高)"
        r"(?:一点|一些|点|些|一下|下)?",
        r"晚(?:几|两|一两|一|三)?天(?:再)?(?:答复|回复|决定|确认|给)",
        r"(?:延长|延期|推迟|宽限|延后).{0,6}(?:答复|回复|期限|时间|决定)",
        r"(?:答复|回复)(?:期限|时间).{0,6}(?:延长|推迟|宽限|晚)", r"多给(?:我)?.{0,3}(?:天|时间)",
        r"negotia", r"(?:can|could) you (?:match|do better|beat)",
        r"\bmatch\b.{0,12}(?:\d+k|offer|salary)",
        r"(?:bump|raise|increase|improve|up)\b.{0,20}(?:base|salary|offer|package|number|pay)",
        r"talk about .{0,25}again", r"revisit", r"second thoughts", r"doubts",
        r"\buntil\b.{0,40}(?:answer|decide|decision|respond|reply|get back)",
        r"extend\w*\b.{0,20}deadline", r"deadline.{0,20}extend", r"(?:给|开|涨|提|加)到\s*\d",
        r"(?:any|some|more|wiggle) room", r"flexib\w* on (?:the )?(?:salary|base|pay|package)",
        r"give me (?:until|till|a (?:few|couple)|some|more|another|the weekend|a day|a week)",
    )),
    ("hesitate", 2, (
        r"考虑", r"犹豫", r"纠结", r"想一想", r"想想", r"再看看", r"得看看", r"再等", r"等等",
        r"等我.{0,3}天", r"等[^,.。!?;]{0,8}(?:结果|消息|通知|回复|offer)", r"没想好", r"还没决定",
        r"没(?:有)?决定", r"不(?:太)?确定", r"拿不准", r"说不好", r"没底", r"不放心", r"顾虑",
        r"担心", r"(?:我|有点|就)?怕", r"动摇", r"权衡", r"对比", r"比较一下", r"做选择", r"难选",
        r"不知道(?:该|要|怎么)(?:选|办|决定)", r"商量", r"斟酌", r"琢磨", r"掂量", r"摇摆",
        r"动心", r"拿不定", r"没拿定", r"(?:需要|要)(?:几|两|一两|\d)天",
        r"太(?:远|折腾|麻烦|辛苦|累|低|少|赶|紧|贵)",
        r"(?:需要|要|给我)(?:一点|点|些|一些|(?:几|一|两|三|\d)(?:天|周))?的?时间",
        r"再(?:做)?决定", r"再定",
        r"(?:明天|明早|过(?:两|几|一两)天|这(?:两|几)天|周[一二三四五六日末]|下周|回头|晚些|改天)"
        r"(?:再)?(?:给(?:您|你))?(?:答复|回复|决定|确定)",
        r"(?:家里|家人|老婆|老公|媳妇|爱人|对象|父母|爸妈|女朋友|男朋友).{0,6}不(?:太)?(?:同意|支持|愿意)",
        r"没松口", r"反对",
        r"(?:有点|有些|有一点|略|稍微|比较|挺|太|好)(?:担心|犹豫|纠结|顾虑|没底|赶|远|低|少|难|累|贵)",
        r"差距.{0,3}大", r"低于(?:我的)?预期", r"(?:比|跟|和)(?:我的?)?预期.{0,4}(?:低|差|少)",
        r"还(?:有|在等).{0,4}(?:offer|一家|家公司|面试)", r"(?:两|几|多)个offer", r"挽留",
        r"think (?:about )?it", r"think it over", r"let me think", r"(?:still )?thinking",
        r"not sure", r"\bunsure", r"undecided", r"on the fence", r"\btorn\b", r"hesita",
        r"sleep on it", r"leaning", r"weighing", r"consider", r"get back to you", r"let you know",
        r"need (?:a bit |a little |some |a few |more )*(?:more )?(?:time|days)", r"more time",
        r"discuss (?:it |this )?with", r"talk (?:it )?(?:over )?with my",
        r"waiting (?:to hear|for|on)", r"another (?:offer|company)", r"other (?:offer|compan)",
        r"better offer", r"counter ?offer", r"offered me more", r"worr", r"concern",
        r"(?:lower|less) than (?:i )?expect", r"below (?:my )?expectation", r"^maybe\b",
        r"figuring", r"before (?:deciding|i decide)", r"(?:wants?|want me) to stay", r"再说吧",
        r"看情况", r"看看再说", r"不太愿意",
        r"\b(?:too|a bit|a little|quite) (?:low|far|long|little)\b", r"nervous", r"anxious",
        r"uneasy", r"holding me back", r"hold(?:s)? me back", r"not (?:\w+%? )?sure",
    )),
    ("hesitate", 1, (r"不知道", r"🤔")),
    # --- 4. question: asking for information -----------------------------------------------
    ("question", 2, (
        r"请问", r"想问", r"问一?下", r"咨询", r"想了解", r"了解一下",
        r"有(?:个|几个|一些|点)?问题", r"吗" + r"(?=$|[^\w]|[哈呀啦])", r"么(?=$|[?])", r"呢\?",
        r"多少", r"几(?:点|天|号|个|次|年|月|成|薪|险)", r"哪(?:里|儿|些|个|家|天|种)", r"什么",
        r"啥", r"怎么", r"怎样", r"如何", r"是否", r"有没有", r"能不能", r"可不可以", r"是不是",
        r"会不会", r"要不要", r"多久", r"多长", r"多大", r"为什么", r"谁",
        r"(?:^|[.!?,;]\s*)(?:what|when|where|why|how|which|who|whom|whose|any chance)\b",
        r"(?<!还)是.{1,8}还是", r"(?<![我你他她])还是(?![想不要会决])\w{1,6}(?:[呀呢啊]|\?)",
        r"(?:^|[.!?,;]\s*)(?:is|are|do|does|did|can|could|will|would|should|shall|may)\s+"
        r"(?:i|you|we|they|it"
        r"|there|the|this|that|my|your|he|she|someone|anyone|one)\b",
        r"(?:have|got) (?:a |an |some |one |two |a few |quick |few )*questions?", r"wondering",
        r"i'?d like to know", r"curious",
    )),
    ("question", 1, (r"\?",)),
    # --- 5. accept ------------------------------------------------------------------------
    ("accept", 3, (
        r"接受", r"确认(?:入职|接受|加入)", r"决定(?:加入|入职|来|去贵司)",
        r"愿意(?:加入|来|入职)", r"同意入职", r"\baccept", r"i'?m happy to (?:join|confirm)",
        r"i'?d like to join", r"decided to (?:join|accept)", r"i'?ll take it",
        r"决定(?:去|来)(?:了|啦|吧)?" + _END,
        r"(?:happy|glad|excited|thrilled|delighted|love|like) to"
        r" (?:join|accept|confirm|come on board)",
        r"选(?:择)?(?:你们|贵司|贵公司)", r"还是(?:来|去|接受|加入)(?:吧|了|啦)?" + _END,
    )),
    ("accept", 2, (
        r"(?<!不)同意", r"答应",
        r"(?<!不)(?:会|可以|能|准时|按时|如期|准点)(?:在.{0,8})?(?:入职|到岗|报到)",
        r"\d+号(?:入职|到岗|报到)", r"入职见", r"到时(?:候)?见", r"下周见", r"收下", r"就这么定",
        r"定了", r"(?:会|一定|肯定|保证)(?:会)?(?:来|去|到)(?:的|哒)?" + _END, r"就来",
        r"^我?来(?:我来)?", r"(?<=,)\s*来" + _END, r"^妥", r"期待(?:加入|共事|与|和|入职|成为|跟)",
        r"count me in", r"i'?m in(?=$|[^\w])(?! (?:a|the|an|my)\b)", r"\bdeal\b", r"confirm",
        r"i'?ll be (?:there|joining)", r"i (?:can|will|'ll) start",
        r"see you (?:on|then|monday|soon)", r"looking forward to (?:joining|working|start)",
        r"i'?ll (?:join|come|be joining)", r"(?<!不)(?<!不太)愿意", r"准备(?:入职|报到)",
        r"(?<![不未待再])确认(?!一下|下)", r"(?<!不)(?:过去|过来|去|来)(?:报到|上班)",
        r"works[.!]*$", r"\byup\b",
    )),
    ("accept", 1, (
        r"^(?:哈+|嗯+|额|呃|噢|哦+|oh|ah|haha\w*)?[\s,.!~]*(?:(?:好的?|好滴|好哒|好嘞|好呀|好吧|行吧?|可以的?|嗯+|妥|ok(?:ay)?|yes|yep|yeah|sure|fine"
        r"|alright|absolutely|great|perfect|of course|当然)[\s,.!~。]*)+" + _END,
        r"[👍👌✅🙆🤝💪]", r"as planned",
    )),
)
# fmt: on

# Contrast markers: a cue after the last one gets +1.
CONTRAST_RX = re.compile(r"但是|但|不过|可是|只是|然而|\bbut\b|\bhowever\b|\bthough\b", re.ASCII)
# Hedges and conditions that turn an accept/decline into hesitate when they come first.
HEDGE_RX = re.compile(
    r"可能|也许|或许|说不定|如果|要是|假如|假设|的话|除非|只要"
    r"|\bmaybe\b|\bmight\b|\bpossibly\b|\bperhaps\b|\bif\b|\bunless\b|as long as",
    re.ASCII,
)
HEDGE_REACH = 20  # characters before the deciding cue in which a hedge counts

# Keyword tables per concern (both languages). Matched on normalised, unmasked text.
# fmt: off
CONCERN_CUES: dict[str, tuple[str, ...]] = {
    "salary": (
        r"年包", r"月包", r"总包", r"[一二两三四五六七八九十\d]+万", r"涨(?:薪|工资|了|\d)",
        r"预期.{0,4}(?:少|低|高|多)", r"(?:少|低)于预期", r"薪", r"工资", r"待遇", r"钱", r"收入",
        r"奖金", r"年终", r"绩效", r"期权", r"股票", r"股权", r"五险一金", r"公积金", r"社保",
        r"补贴", r"餐补", r"福利", r"加班费", r"给的?(?:多|少|高|低)",
        r"\d+(?:\.\d+)?\s*(?:k|w|万)\b", r"\bbase\b", r"too low", r"\bsalar", r"\bpay\b",
        r"\bpaid\b", r"package", r"money", r"compensation", r"bonus", r"equity", r"stock",
        r"\brsu", r"\braise\b", r"benefit", r"allowance", r"housing fund", r"insurance",
        r"offered me more", r"(?:offer|number) is .{0,10}low",
    ),
    "overtime": (
        r"通宵", r"熬夜", r"调休", r"workload", r"the hours", r"\bhours? (?:are|is)\b", r"加班",
        r"996", r"007", r"大小周", r"单休", r"双休", r"周末", r"下班", r"工作时间", r"作息",
        r"值班", r"弹性", r"工作强度", r"强度", r"节奏", r"忙不忙", r"累不累", r"overtime",
        r"on-?call", r"weekend", r"(?:working|work|office|usual|long) hours", r"late night",
        r"work-?life", r"crunch",
    ),
    "location": (
        r"来回", r"郊区", r"市区", r"市中心", r"(?:哪个|什么)区", r"园区", r"混合办公", r"我住",
        r"住在", r"通勤", r"(?<![长永差])远(?![大见])", r"地点", r"地址", r"位置", r"搬", r"异地",
        r"外地", r"城市", r"远程", r"居家", r"在家办公", r"地铁", r"班车", r"shuttle", r"停车",
        r"宿舍", r"租房", r"房租", r"住(?:的|处|宿|房)", r"出差", r"老家", r"驻场", r"外派",
        r"离家", r"commut",
        r"(?:too|very|quite|pretty|a bit|that) far(?! (?:below|above|off|less|more))",
        r"far (?:away|from)", r"location", r"located", r"office", r"relocat", r"remote", r"hybrid",
        r"\bwfh\b", r"work(?:ing)? from home", r"\bmov(?:e|ing) to\b", r"\bcity\b", r"on-?site",
        r"travel", r"distance", r"parking", r"closer to home", r"dorm",
    ),
    "competing_offer": (
        r"(?:现|原|目前的?|现在的?)公司.{0,8}(?:涨|加薪|挽留|留我|给我)",
        r"(?:别的|其他|其它|另一个?|另外一?个?|两个|几个|多个)\s*offer", r"还有.{0,2}offer",
        r"另一?家", r"另外一?家", r"另一个", r"别家", r"还有(?:一|两|几)家",
        r"(?:其他|其它|别的)公司", r"(?:其他|其它|别的|另一个)机会",
        r"更(?:好|合适)的(?:选择|机会|offer)", r"挽留", r"留任", r"counter ?offer",
        r"留在(?:现在|原来|目前)的?公司", r"stay (?:at|with) my current",
        r"another (?:offer|company|opportunit|position|firm|one)",
        r"other (?:offer|compan|opportunit|firm)", r"better offer", r"competing", r"elsewhere",
        r"(?:two|multiple|several) offers", r"offer from", r"offered me",
    ),
    "role_fit": (
        r"产品线", r"业务线", r"做哪", r"岗位", r"职位", r"职责", r"工作内容", r"发展", r"晋升",
        r"成长", r"方向", r"技术栈", r"职级", r"级别", r"头衔", r"规划", r"前景", r"胜任", r"培训",
        r"转管理", r"后端", r"前端", r"运维", r"做什么", r"负责", r"项目", r"\bp\d\b", r"\brole\b",
        r"position", r"responsibilit", r"duties", r"career", r"growth", r"promotion", r"\blevel\b",
        r"\btitle\b", r"tech stack", r"\bscope\b", r"job description", r"\bjd\b", r"training",
    ),
    "team_culture": (
        r"团队", r"氛围", r"领导", r"老板", r"主管", r"上级", r"直属", r"同事", r"文化",
        r"管理风格", r"管得", r"部门", r"面试官", r"人际", r"压抑", r"平均年龄", r"leader",
        r"\bteam\b", r"culture", r"manager", r"management", r"\bboss", r"colleague", r"co-?worker",
        r"atmosphere", r"vibe", r"report(?:ing)? to", r"supervisor",
    ),
    "family": (
        r"家人", r"家里", r"家庭", r"孩子", r"小孩", r"宝宝", r"子女", r"老婆", r"老公", r"媳妇",
        r"妻子", r"丈夫", r"爱人", r"对象", r"女朋友", r"男朋友", r"女友", r"男友", r"父母",
        r"爸妈", r"爸爸", r"妈妈", r"老人", r"怀孕", r"生孩子", r"育儿", r"陪产", r"产假", r"结婚",
        r"婚礼", r"离开家", r"family", r"\bwife", r"husband", r"partner", r"\bkids?\b", r"child",
        r"\bsons?\b", r"daughter", r"parent", r"\bmom\b", r"\bdad\b", r"mother", r"father",
        r"\bbaby", r"pregnan", r"wedding", r"girlfriend", r"boyfriend", r"spouse", r"paternity",
        r"maternity", r"\bdue in\b",
    ),
    "timing": (
        r"入职时间", r"到岗时间", r"报到时间", r"入职日期", r"日期", r"什么时候入职", r"几号入职",
        r"哪天入职", r"下个?月", r"下周", r"月底", r"月初", r"\d+号", r"年后", r"春节", r"过年",
        r"交接", r"离职(?!证明)", r"辞职", r"推迟", r"延后", r"往后推", r"提前入职",
        r"晚(?:半|一|两|几)个?(?:周|月|天)", r"期限", r"截止", r"延长", r"多给.{0,3}天",
        r"需要(?:几|两|一两)天", r"太急", r"有点赶", r"等我.{0,3}天", r"start(?:ing)? date",
        r"join(?:ing)? date", r"notice period", r"next (?:month|week)", r"deadline", r"\bextend",
        r"more days", r"until (?:next )?(?:mon|tue|wed|thu|fri|sat|sun)",
        r"when (?:can|should|could|do|would) i start", r"latest i could start", r"start on",
        r"postpone", r"push (?:it )?back", r"\bdelay", r"timing", r"\bresign", r"hand ?over",
    ),
    "process": (
        r"流程", r"背调", r"背景调查", r"体检", r"合同", r"签约", r"三方", r"材料", r"证明",
        r"学历", r"档案", r"试用期", r"转正", r"手续", r"资料", r"身份证", r"银行卡", r"书面",
        r"邮件", r"入职当天", r"流水", r"process", r"background check", r"medical",
        r"health check", r"physical exam", r"contract", r"paperwork", r"document", r"probation",
        r"offer letter", r"onboarding", r"reference check", r"\bbring\b", r"\barrive\b",
        r"certificate",
    ),
}
# fmt: on
# Phrases whose keywords are not concerns ("joining the team", "周末愉快").
CONCERN_IGNORE_RX = re.compile(
    r"join(?:ing)? the team|(?:周末|节日|新年)(?:愉快|快乐)|withdraw\w* from the process"
    r"|cancel my onboarding|sorry for the (?:delay|late)"
)

# Reasons for declining: the job was not what was described.
# fmt: off
INFO_MISMATCH_CUES: tuple[str, ...] = (
    r"(?:和|跟|与)?.{0,12}(?:说的|讲的|描述|介绍|写的|jd|承诺|宣传|招聘信息).{0,6}"
    r"(?:不一样|不同|不符|不一致|有出入|差别|差距|两回事|对不上)",
    r"不是.{0,8}说的那样", r"货不对板", r"挂羊头", r"名不副实", r"虚假", r"忽悠",
    r"jd.{0,6}(?:写的?|说的?)是.{0,20}(?:结果|实际|但|却)",
    r"实际(?:上|是)?.{0,12}(?:不一样|不同|却是)",
    r"not (?:what|how) (?:was |it was |you |they |the job was )?"
    r"(?:described|advertised|promised|said|told)",
    r"different from (?:what|the|how)", r"(?:doesn'?t|does not|didn'?t) match the (?:job )?desc",
    r"misrepresent", r"bait.?and.?switch", r"mislead", r"misled",
)
# fmt: on
REASON_MENU_RX = re.compile(r"^(?:我?选|第)?\s*(\d{1,2})\s*(?:号|个|项)?(?:$|[\s.、,:)\]])")
