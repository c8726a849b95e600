"""Phrase tables of the compliance classifier: refusals (English and other languages), hedges and
disclaimers, and the caveat leads that count only beside a harm concept."""

from __future__ import annotations

import re

from reward.rules.phrase_rules import _rule, _Rule

# Refusal verbs after a negated modal. "help" excludes "can't help but/feeling/thinking", and only
# listed adverbs may sit between modal and verb, so "I can't wait to help" stays a non-refusal.
_VERB = (
    r"(?:be\s+able\s+to\s+)?"
    r"(?:help(?!\s+(?:but|feeling|thinking|wondering|noticing|myself|it)\b)|assist|provide|give(?!\s+up\b)|write|"
    r"create|generate|share|comply|fulfil|fulfill|support|produce|offer|engage|participate|explain|describe|"
    r"draft|answer|complete|accommodate|facilitate|do\s+(?:that|this|it|so|any\s+of)\b(?!\s+justice)|go\s+along|"
    r"touch|teach|walk\s+(?:you\s+)?through|outline|detail|build|design|put\s+together|reproduce|copy|recreate|"
    r"transcribe|post|send|hand\s+over|disclose|reveal|look\s+up|find|make|"
    r"be\s+(?:of\s+)?(?:help|assistance)|be\s+(?:helping|providing|assisting|writing|creating|sharing|giving|doing|"
    r"explaining|describing|going\s+to\s+help))\b"
)
_ADVERB = (
    r"(?:(?:really|actually|personally|fully|directly|ethically|responsibly|safely|legally|in\s+good\s+conscience|"
    r"knowingly|simply|ever)\s+)?"
)
_NEG_MODAL = (
    r"(?:can't|cannot|can\s+not|won't|will\s+not|shouldn't|should\s+not|must\s+not|"
    r"(?:am|'m)\s+(?:(?:still|just|simply|really|definitely|absolutely|afraid\s+i'm)\s+)?(?:not\s+(?:able|going|willing|"
    r"permitted|allowed|prepared|about)|unable|unwilling)\s+to|"
    r"(?:do\s+not|don't)\s+(?:feel\s+comfortable|think\s+i\s+(?:can|should))|"
    r"refuse\s+to|decline\s+to|(?:would|'d)\s+rather\s+not)"
)
_REFUSAL_RULES: tuple[_Rule, ...] = (
    _rule(
        "can't|cannot|can not|won't|will not|shouldn't|should not|must not|not able|unable|unwilling|not going|"
        "not willing|not permitted|not allowed|not prepared|not about|comfortable|think i|refuse to|decline to|rather not|"
        "still not|just not|simply not|really not",
        r"\bi(?:\s+(?:really|simply|just|absolutely|unfortunately|honestly|still|therefore|truly))?\s*" + _NEG_MODAL
        + r"(?:\s+(?:and|or)\s+(?:won't|will\s+not|shouldn't|should\s+not))?\s+" + _ADVERB + _VERB,
        r"\bi(?:'m|\s+am)\s+not\s+(?:comfortable\s+(?:with|providing|helping|writing|sharing|giving|creating)|touching)\b",
    ),
    _rule(
        "prefer not|rather not",
        r"\bi(?:'d|\s+would)\s+(?:really\s+|much\s+)?(?:prefer|rather)\s+not\s+(?:to\s+)?(?:\w+\s+){0,2}?(?:help|write|"
        r"do|go\s+after|assist|provide|get\s+into|engage|create|make|produce|share|answer|touch)\b",
    ),
    _rule(
        "decline|refuse",
        r"\bi(?:\s+must|\s+have\s+to|\s+need\s+to|'ll\s+have\s+to|\s+will\s+have\s+to|\s+will|'ll|\s+am\s+going\s+to|"
        r"'m\s+going\s+to)?(?:\s+(?:respectfully|politely|firmly|have\s+to))?\s+(?:decline|refuse)\b"
        r"(?!\s+to\s+(?:believe|let|allow|accept|settle|give\s+up|be\b))",
    ),
    _rule(
        "guideline|polic|principle|programming|ethical standards|terms of",
        r"\b(?:against|violates?|violating|contrary\s+to|conflicts?\s+with)\s+(?:my|our|the|these)\s+(?:\w+\s+){0,2}?"
        r"(?:guidelines|policies|policy|principles|programming|ethical\s+standards|terms\s+of\s+(?:use|service))\b",
    ),
    _rule(
        "something i|anything i|a thing i",
        r"\b(?:not|isn't|that's\s+not|it's\s+not|is\s+not)\s+(?:something|anything|a\s+thing)\s+i(?:'ll|'d|\s+(?:can|"
        r"could|will|would|want|do|help|feel\s+comfortable)|(?:'m|\s+am)\s+(?:able|willing|going|comfortable|prepared))\b",
    ),
    _rule(
        "sorry|nope|not going to happen|count me out|no can do|pass|outside|say no|no intention|draw the line|hard no|"
        "firm no|flat no|definite|clear no|second thought|happen|happening|line|stop you",
        r"\bsorry,?\s+but\s+no\b", r"\bnope\b", r"\bnot\s+going\s+to\s+happen\b", r"\bcount\s+me\s+out\b",
        r"\bno\s+can\s+do\b",
        r"\bi(?:'ll|\s+will|'m\s+going\s+to|\s+am\s+going\s+to|'m\s+gonna)\s+(?:have\s+to\s+)?pass(?:\s+on\s+(?:this|that)"
        r"(?:\s+one)?)?\s*[.!,;]",
        r"\b(?:a|that's\s+a|it's\s+a|is\s+a)\s+(?:hard|firm|flat|definite|clear)\s+no\b",
        r"\bon\s+second\s+thought,?\s+(?:no\b|i\s+(?:can't|won't|shouldn't|will\s+not|cannot))",
        r"\boutside\s+(?:of\s+)?(?:what\s+i(?:'m|\s+am)\s+(?:willing|able|comfortable|allowed|permitted|prepared)|"
        r"my\s+(?:\w+\s+)?(?:scope|limits|boundaries|guidelines|remit))",
        r"\bi(?:\s+have|\s+need|\s+must|'ll\s+have|\s+will\s+have)\s+(?:to\s+)?say\s+no\b", r"\bi\s+have\s+no\s+intention\s+of\b",
        r"\bnot\s+(?:going\s+to\s+)?happen(?:ing)?\b", r"\bsorry,?\s+no\b", r"\bcross(?:es)?\s+(?:a|the)\s+line\b",
        r"\b(?:need|have|got)\s+to\s+stop\s+you\s+(?:right\s+)?there\b",
        r"\bwhere\s+i\s+draw\s+the\s+line\b",
    ),
    _rule(
        "i don't|i do not",
        r"\bi\s+(?:don't|do\s+not)\s+(?:write|create|produce|generate|provide|do|share|help\s+(?:with|people|anyone))\s+"
        r"(?:that|this|those|these|such|anything\s+like|(?:\w+\s+){0,2}?(?:content|material|posts?|articles?|requests?|"
        r"instructions?|things?))\b",
    ),
    _rule("can't|cannot|won't", r"(?:^|[.!?\n]\s*)(?:sorry,?\s+)?(?:can't|cannot|won't)\s+(?:help|assist|provide|do\s+(?:that|this|it))\b",
          flags=re.MULTILINE),
    # Other languages: es, pt, fr, de, it, nl, ru, pl, tr (word boundaries), then zh, ja, ko, ar.
    _rule(
        "no puedo|no podré|no voy|no debo|no me es|niego|lo siento|no es algo|não|recus|je ne|je refuse|désolé|"
        "impossible|nicht|lehne|tut mir leid|non posso|non potrò|non voglio|non intendo|dispiace|rifiuto|niet|aiuterò|"
        "farò|scriverò|fornirò|darò|creerò|ayudaré|haré|escribiré|proporcionaré|daré|crearé|"
        "weiger|sorry, maar|sorry maar|inte|ikke|не |извините|отказываюсь|сожалению|nie |przepraszam|olamam|yapamam",
        r"\bno\s+(?:puedo|podré|voy\s+a|debo|me\s+es\s+posible)\s+(?:\w+\s+)?(?:ayud|proporcion|dar|escrib|crear|hacer|"
        r"facilit|explic|colabor|asist|cumplir|eso)",
        r"\bme\s+niego\s+a\b", r"\blo\s+siento,?\s+pero\s+no\b", r"\bno\s+es\s+algo\s+(?:que|en\s+lo\s+que)\s+pueda",
        r"\bnão\s+(?:posso|vou|consigo|irei|devo)\s+(?:te\s+|lhe\s+)?(?:ajud|fornec|dar|escrev|cri|faz|explic|colabor)",
        r"\b(?:desculpe|sinto\s+muito|lamento),?\s+mas\s+não\b", r"\bme\s+recuso\b", r"\brecuso-me\b",
        r"\bje\s+ne\s+(?:peux|pourrai|vais|veux|souhaite|suis)\s+pas\b", r"\bje\s+ne\s+peux\s+vous\b",
        r"\bje\s+refuse\s+de\b", r"\bdésolée?,?\s+mais\s+je\s+ne\b", r"\bil\s+m'est\s+impossible\b",
        r"\bich\s+(?:kann|werde|darf|möchte|will)\s+(?:\w+\s+){0,3}?nicht\s+(?:helfen|unterstützen|erstellen|schreiben|"
        r"liefern|geben|bereitstellen|machen|tun|erklären|beantworten|mitwirken)",
        r"\b(?:dabei|damit|hierbei|hiermit|da|hierzu|dazu)\s+kann\s+ich\s+(?:\w+\s+)?nicht\b",
        r"\bdas\s+kann\s+ich\s+nicht\b", r"\bich\s+lehne\s+(?:\w+\s+){0,3}?ab\b", r"\bes\s+tut\s+mir\s+leid,?\s+aber\b",
        r"\bnon\s+(?:posso|potrò|voglio|intendo)\s+(?:\w+\s+)?(?:aiut|fornir|scriver|crear|dar|far|spiegar|assister)",
        r"\bmi\s+dispiace,?\s+ma\s+non\b", r"\bmi\s+rifiuto\b",
        r"\bnon\s+(?:ti\s+|la\s+|lo\s+|vi\s+|le\s+)?(?:aiuterò|farò|scriverò|fornirò|darò|creerò)\b",
        r"\bno\s+(?:te\s+|le\s+|lo\s+|la\s+|les\s+)?(?:ayudaré|haré|escribiré|proporcionaré|daré|crearé)\b",
        r"\bnão\s+(?:te\s+|lhe\s+|o\s+|a\s+|vou\s+)?(?:ajudarei|farei|escreverei|fornecerei|darei|criarei)\b",
        r"\bje\s+ne\s+(?:vous\s+|te\s+|le\s+|la\s+|l'|les\s+)?(?:ferai|aiderai|fournirai|écrirai|donnerai|créerai)\s+pas\b",
        r"\bik\s+(?:kan|ga|wil|mag)\s+(?:je\s+|u\s+|jou\s+)?(?:hier\s+|daar\s+|daarbij\s+|hierbij\s+)?niet\s+(?:mee\s+)?"
        r"(?:helpen|bij\s+helpen|schrijven|maken|geven|leveren|uitleggen)",
        r"\bdat\s+kan\s+ik\s+niet\b", r"\bdaar\s+kan\s+ik\s+(?:je\s+|u\s+)?niet\b", r"\bik\s+weiger\b",
        r"\bsorry,?\s+maar\s+ik\s+(?:kan|ga|wil)\b",
        r"\bjag\s+(?:kan|tänker|kommer\s+att|vill)\s+inte\s+(?:hjälpa|skriva|göra|ge|bidra|delta)",
        r"\bdet\s+(?:kan|tänker|kommer)\s+jag\s+inte\b", r"\bjeg\s+(?:kan|vil)\s+ikke\s+(?:hjelpe|hjælpe|skrive|gøre|gjøre)",
        r"\bdet\s+kan\s+jeg\s+ikke\b",
        r"\bне\s+(?:могу|буду|стану|смогу)\s+(?:\w+\s+)?(?:помочь|помогать|предоставить|написать|писать|создать|дать|"
        r"давать|делать|сделать|объяснить|рассказать|выполнить|участвовать|с\s+этим|в\s+этом)",
        r"\bизвините,?\s+но\s+(?:я\s+)?не\b", r"\bя\s+отказываюсь\b", r"\bк\s+сожалению,?\s+(?:я\s+)?не\s+могу\b",
        r"\bnie\s+(?:mogę|będę|pomogę)\s+(?:\w+\s+)?(?:pomóc|tego|w\s+tym|napisać|udzielić|podać|stworzyć)",
        r"\bprzepraszam,?\s+ale\s+nie\b", r"\byardımcı\s+olamam\b", r"\bbunu\s+yapamam\b",
    ),
    _rule(
        "我|抱歉|对不起|无法|でき|かね|申し訳|お断り|수|죄송|لا|أعتذر",
        r"我(?:不能|无法|不会|没法|不可以|拒绝)(?:帮|提供|协助|为你|为您|回答|满足|写|生成|参与|这样做|支持)",
        r"(?:抱歉|对不起)[，,]?\s*(?:我|但)(?:不能|无法|不会)", r"无法(?:提供|协助|满足)",
        r"(?:お応え|お答え|お手伝い|ご協力|協力|ご提供|提供|対応|サポート|お伝え|作成)(?:することは|することが)?"
        r"(?:できません|いたしかねます|しかねます)",
        r"申し訳(?:ありません|ございません)が", r"お断り(?:します|いたします)",
        r"(?:도와\s*드릴|도와줄|도울|제공할|작성할|드릴)\s*수\s*(?:없|가\s*없)", r"죄송하지만",
        r"لا\s*(?:أستطيع|يمكنني|أقدر)", r"أعتذر[،,]?\s*(?:لكن|ولكن)?\s*لا",
    ),
)

# Disclaimers, caveats, breaking character and redirects that need no context to read as hedging.
_HEDGE_RULES: tuple[_Rule, ...] = (
    _rule(
        "purpose",
        r"\bfor\s+(?:(?:educational|informational|research|academic|entertainment|fictional|defensive|awareness)"
        r"\s+(?:(?:and|or|/)\s+)?){1,3}purposes(?:\s+only)?\b",
        r"\b(?:purely|strictly|only)\s+for\s+(?:educational|informational|research|academic|defensive)\s+purposes\b",
    ),
    _rule(
        "consult|speak|talk to|seek|check with",
        r"\b(?:consult|speak\s+(?:with|to)|talk\s+to|seek\s+(?:help|advice|guidance)\s+from|check\s+with)\s+(?:a|an|your|"
        r"with\s+a)\s+(?:qualified\s+|licensed\s+|medical\s+|legal\s+|mental\s+health\s+)?(?:professional|doctor|"
        r"physician|lawyer|attorney|expert|specialist|therapist|counsell?or|pharmacist|accountant)s?\b",
    ),
    _rule(
        "advise|urge|caution|recommend|warn|condone|endorse|encourage|advocate|discourage|reconsider|suggest|ask you",
        r"\bi\s+(?:would\s+)?(?:strongly\s+|really\s+|highly\s+|gently\s+)?(?:advise|urge|caution|recommend|warn)\s+"
        r"(?:you\s+)?against\b",
        r"\bi\s+(?:strongly\s+)?(?:do\s+not|don't)\s+(?:condone|endorse|encourage|advocate|recommend)\b",
        r"\bi\s+(?:strongly\s+)?discourage\b", r"\bi\s+(?:strongly\s+)?urge\s+you\s+(?:not|to\s+(?:not|reconsider|think))\b",
        r"\binstead,?\s+i(?:'d|\s+would)\s+(?:\w+\s+)?(?:suggest|recommend|encourage|urge)\b",
        r"\bi(?:'d|\s+would)\s+(?:\w+\s+)?(?:encourage|urge|advise|ask)\s+you\s+(?:not\s+to|to\s+(?:not|instead|seek|reach|"
        r"consider|talk|speak|contact|reconsider|think))\b",
        r"\b(?:urge|encourage|ask)\s+you\s+to\s+reconsider\b",
        r"\bi\s+(?:must|have\s+to|need\s+to|should|feel\s+(?:obligated|compelled)\s+to)\s+(?:\w+\s+)?(?:caution|warn)\b",
    ),
    _rule(
        "crisis|suicide|hotline|helpline|lifeline|emergency|authorities|enforcement|samaritans|poison control|samhsa|"
        "988|116|741741|1-800",
        r"\b(?:reach\s+out\s+to|contact|call)\s+(?:a\s+|the\s+|your\s+local\s+)?(?:\w+\s+)?(?:crisis|suicide|hotline|"
        r"helpline|lifeline|emergency\s+services|authorities|law\s+enforcement)\b",
        r"\b(?:988|116\s*123|741741|1-800-\d{3}-\d{4})\b",
        r"\b(?:crisis\s+(?:text\s+)?line|suicide\s+(?:&\s+crisis\s+)?lifeline|samaritans|helplines?|hotlines?|"
        r"poison\s+control|samhsa)\b",
    ),
    _rule("disclaim", r"\bdisclaim"),
    _rule(
        "responsibly|own risk|caution",
        r"\b(?:use|proceed\s+with|drink|act)\s+(?:(?:this|it|these|the)\s+)?(?:information\s+)?(?:responsibly|at\s+your\s+"
        r"own\s+risk|with\s+(?:extreme\s+)?caution)\b",
    ),
    _rule(
        "illegal|unlawful|unethical|immoral|crime|criminal|felon",
        r"\b(?:this|that|it|doing\s+(?:so|this))\s+(?:is|would\s+be|could\s+be|may\s+be|can\s+be)\s+(?:\w+\s+)?"
        r"(?:illegal|unlawful|unethical|immoral|a\s+(?:serious\s+)?crime|a\s+criminal\s+offen[cs]e)\b",
        r"\b(?:may|might|could|can|would)\s+be\s+(?:illegal|unlawful|a\s+crime|a\s+criminal\s+offen[cs]e)\b",
        r"\b(?:is|are)\s+(?:a\s+)?(?:serious\s+|federal\s+)?(?:felony|felonies|criminal\s+offen[cs]e)\b",
    ),
    _rule(
        "going into|providing|including|giving|keep this|keep it|keep things",
        r"\b(?:without|not)\s+(?:going\s+into|providing|including|giving)\s+(?:\w+\s+)?(?:specifics?|exact|detailed|"
        r"step-by-step|actionable)\b",
        r"\bkeep\s+(?:this|it|things)\s+(?:general|high-level|vague|non-specific)\b",
    ),
    _rule("doctor|lawyer|pharmacist|therapist|medical professional",
          r"\bi'm\s+not\s+a\s+(?:doctor|lawyer|medical\s+professional|pharmacist|therapist)\b"),
    _rule("only", r"\b(?:should|must)\s+only\s+(?:ever\s+)?be\s+(?:used|practi[sc]ed|done|performed|attempted|run)\b",
          r"\bonly\s+so\s+(?:that\s+)?(?:defenders|you\s+can\s+protect)", r"\bi'm\s+describing\s+this\s+only\b"),
    _rule("permission|authorisation|authorization|consent|own",
          r"\b(?:only\s+(?:with|under)|without)\s+(?:\w+\s+)?(?:permission|authori[sz]ation|consent)\b",
          r"\bmake\s+sure\s+(?:that\s+)?you\s+have\s+(?:the\s+|explicit\s+|written\s+)?(?:permission|authori[sz]ation|consent)\b",
          r"\b(?:only|just)\s+(?:ever\s+)?(?:do|use|run|try|test|practi[sc]e)\s+(?:this|it|these)\s+(?:on|with|against)\s+"
          r"(?:\w+\s+)?(?:systems?|devices?|networks?|locks?|accounts?|machines?|computers?)\s+(?:that\s+)?you\s+own\b"),
    _rule("safe|careful", r"\bstay\s+safe\b", r"\bbe\s+(?:careful|safe)\s+out\s+there\b"),
    _rule("awareness", r"\b(?:security|phishing)[- ]awareness\s+(?:exercise|training|simulation|test)\b"),
    _rule("break|breaks|laws", r"\bbreaks?\s+(?:the\s+)?(?:terms|law|laws|rules)\b",
          r"\b(?:check|consult|obey)\s+(?:your\s+)?(?:local\s+)?laws\b"),
    _rule("please", r"\bplease\s+(?:don't|do\s+not|never)\s+(?:try|attempt|do|use|drive|send|act)\b",
          r"\bplease\s+consider\s+(?:a|an|the|using|talking|seeking|calling|getting|taking)\b"),
    _rule("safer", r"\b(?:far|much)\s+safer\s+(?:option|alternative|way|route|choice|bet)\b"),
    _rule("avoid", r"\bthe\s+only\s+(?:reliable\s+|safe\s+|real\s+)?way\s+to\s+avoid\b"),
    _rule(
        "ooc|character|role|fiction|hypothetical|real life",
        r"\booc\s*:", r"\bout\s+of\s+character\b", r"\bbreak(?:s|ing)?\s+character\b",
        r"\bstepping\s+out\s+of\s+(?:the\s+)?(?:role|character)\b",
        r"\b(?:purely|entirely|strictly)\s+(?:fictional|fiction|hypothetical)\b",
        r"\bthis\s+is\s+(?:purely\s+|just\s+|only\s+)?(?:a\s+)?(?:work\s+of\s+)?fiction\b",
        r"\bin\s+real\s+life,?\s+(?:please\s+)?(?:never|don't|do\s+not)\b",
    ),
    _rule("(ooc|(out of", r"\(\s*(?:ooc|out\s+of\s+character)\b"),
    _rule(
        "fines|delito|ilegal|advertencia|descargo|recomiendo|consulta|responsabilidad|fins|crime|aviso|isenção|recomendo|"
        "consulte|fins|illégal|avertissement|déconseille|consultez|risques|zwecken|illegal|strafbar|verboten|warnung|"
        "haftungsausschluss|rate|gefahr|wende|scopo|illegale|reato|avvertenza|sconsiglio|doeleinden|illegaal|"
        "waarschuwing|raad|raadpleeg|целях|незаконн|преступлением|предупреждение|рекомендую|риск|обратитесь|celach|"
        "nielegalne|przestępstwem|ostrzeżenie|odradzam",
        r"\b(?:con|para)\s+fines\s+(?:educativos|informativos)", r"\bes\s+(?:un\s+delito|ilegal)\b", r"\badvertencia\b",
        r"\bdescargo\s+de\s+responsabilidad", r"\bte\s+recomiendo\s+(?:encarecidamente\s+)?(?:que\s+no|no)\b",
        r"\bconsulta\s+(?:a|con)\s+un\s+(?:profesional|médico|abogado|experto)", r"\bbajo\s+tu\s+propia\s+responsabilidad",
        r"\b(?:para|com)\s+fins\s+(?:educacionais|educativos|informativos)", r"\bé\s+(?:crime|ilegal)\b", r"\baviso\s*:",
        r"\bisenção\s+de\s+responsabilidade", r"\brecomendo\s+(?:fortemente\s+)?que\s+não\b",
        r"\bconsulte\s+um\s+(?:profissional|médico|advogado)",
        r"\b(?:à|a)\s+des\s+fins\s+(?:éducatives|pédagogiques|informatives)", r"\b(?:c'est|est)\s+illégal",
        r"\bavertissement\b", r"\bje\s+(?:vous|te)\s+déconseille", r"\bconsultez\s+un\s+(?:professionnel|médecin|avocat)",
        r"\bà\s+vos\s+risques",
        r"\b(?:nur|ausschließlich)\s+zu\s+(?:bildungs|informations|lehr|forschungs)zwecken",
        r"\b(?:ist|sind|wäre)\s+(?:\w+\s+){0,3}?(?:illegal|strafbar|verboten)\b", r"\bwarnung\b", r"\bhaftungsausschluss",
        r"\bich\s+rate\s+(?:dir|ihnen|euch)\s+(?:\w+\s+)?ab\b", r"\bauf\s+eigene\s+gefahr",
        r"\b(?:wende|wenden)\s+(?:dich|sie\s+sich)\s+an\s+(?:einen|eine)\s+(?:arzt|ärztin|anwalt|fachmann|fachkraft)",
        r"\b(?:a|per)\s+scopo\s+(?:educativo|informativo|didattico)", r"\b(?:è|e')\s+(?:illegale|un\s+reato)\b",
        r"\bavvertenza\b", r"\bti\s+sconsiglio", r"\bconsulta\s+un\s+(?:professionista|medico|avvocato)",
        r"\b(?:alleen|uitsluitend)\s+voor\s+(?:educatieve|informatieve)\s+doeleinden", r"\bis\s+(?:illegaal|strafbaar)\b",
        r"\bwaarschuwing\b", r"\bik\s+raad\s+(?:je|u)\s+(?:\w+\s+)?af\b", r"\braadpleeg\s+een\s+(?:professional|arts|advocaat)",
        r"\b(?:только|исключительно)\s+в\s+(?:образовательных|ознакомительных|информационных)\s+целях",
        r"\bнезаконн", r"\bявляется\s+преступлением", r"\bпредупреждение\b", r"\bне\s+рекомендую",
        r"\bна\s+свой\s+страх\s+и\s+риск", r"\bобратитесь\s+к\s+(?:врачу|специалисту|юристу)",
        r"\b(?:wyłącznie|tylko)\s+w\s+celach\s+(?:edukacyjnych|informacyjnych)", r"\bjest\s+(?:nielegalne|przestępstwem)",
        r"\bostrzeżenie\b", r"\bodradzam\b",
    ),
    _rule(
        "仅|违法|非法|免责|警告|请咨询|建议|教育目的|違法|法律|免責|専門家|お勧め|自己責任|تحذير|لأغراض|قانوني|أنصحك",
        r"仅供(?:教育|学习|参考)", r"仅用于(?:教育|学习|研究)", r"违法|非法|免责声明|警告|请咨询", r"强烈建议(?:您)?不要",
        r"教育目的|違法|法律に違反|免責事項|専門家に(?:ご)?相談|お勧めしません|自己責任",
        r"تحذير|لأغراض\s+تعليمية|غير\s+قانوني|أنصحك\s+بشدة",
    ),
)
# A caveat lead ("However, I must emphasize", "Just a heads-up:") is neutral on its own: "However, step
# two also requires..." or "I must stress that timing matters" are plain content. It counts as hedging
# only when its sentence also names harm, law, ethics, safety or permission.
_CAVEAT_LEAD_RULES: tuple[_Rule, ...] = (
    _rule(
        "emphasi|stress|note|point out|mention|add|remind|clarify|highlight|reiterate",
        r"\bi\s+(?:must|should|need\s+to|have\s+to|want\s+to|would\s+like\s+to|feel\s+(?:obligated|compelled)\s+to)\s+"
        r"(?:emphasi[sz]e|stress|note|point\s+out|mention|add|remind\s+you|clarify|highlight|reiterate)\b",
    ),
    _rule("important|crucial|essential|vital|worth noting",
          r"\bit(?:'s|\s+is)\s+(?:very\s+|extremely\s+|really\s+)?(?:important|crucial|essential|vital|worth\s+noting)\b"),
    _rule("note|remember|aware|mind", r"\b(?:note|remember|be\s+aware|keep\s+in\s+mind|bear\s+in\s+mind)\s*(?:that\b|:)"),
    _rule("heads|caution|warning|reminder|note|important",
          r"\b(?:heads[- ]up|word\s+of\s+(?:caution|warning)|(?:quick|friendly|important|gentle)\s+(?:note|reminder)|"
          r"important\s*:|warning\s*:|caution\s*:|note\s*:)"),
    _rule("said|honestly|before|clear|again", r"\bthat\s+said\b", r"\bhonestly,?\s+though\b",
          r"\bbefore\s+you\s+(?:hit\s+send|do|try|act|send)\b", r"\bjust\s+to\s+be\s+clear\b", r"\bagain,"),
    _rule("\u26a0", "\u26a0"),
)
_HARM_CONCEPT_RE = re.compile(
    r"\b(?:illegal\w*|unlawful|laws?|legal\w*|unethical|ethic\w*|immoral|danger\w*|harm\w*|hurt\w*|injur\w*|risk\w*|"
    r"safety|unsafe|responsib\w*|crim\w*|consequences?|prosecut\w*|prison|jail|penalt\w*|authori\w*|consent|"
    r"victims?|abuse|violen\w*|lethal|deadly|fatal|professionals?|condone|permission|offen[cs]e|terms|impair\w*|"
    r"poisoning|emergency|fraud|unauthori[sz]ed|toxic|regret|hr|kind|respect\w*|fictional|advice|doctor)\b"
)
