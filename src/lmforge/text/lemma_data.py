"""Word lists for :mod:`lmforge.text.lemmatize`: irregular forms and words that look inflected but are not.

Written for lmforge from general English grammar (no lexicon was copied). Kept as
plain data so a reader can see at a glance what the rules cannot know on their own.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    """A word list written as whitespace-separated words."""
    return frozenset(text.split())


#: Irregular verbs as "base past participle" (a "/" separates alternatives).
IRREGULAR_VERBS = """
arise arose arisen; awake awoke awoken; be was/were been; bear bore born/borne; beat beat beaten;
become became become; begin began begun; bend bent bent; bet bet bet; bind bound bound; bite bit bitten;
bleed bled bled; blow blew blown; break broke broken; breed bred bred; bring brought brought;
build built built; burn burnt burnt; buy bought bought; catch caught caught; choose chose chosen;
cling clung clung; come came come; cost cost cost; creep crept crept; cut cut cut; deal dealt dealt;
dig dug dug; do did done; draw drew drawn; dream dreamt dreamt; drink drank drunk; drive drove driven;
eat ate eaten; fall fell fallen; feed fed fed; feel felt felt; fight fought fought; find found found;
flee fled fled; fling flung flung; fly flew flown; forbid forbade forbidden; forget forgot forgotten;
forgive forgave forgiven; freeze froze frozen; get got gotten; give gave given; go went gone;
grind ground ground; grow grew grown; hang hung hung; have had had; hear heard heard; hide hid hidden;
hit hit hit; hold held held; hurt hurt hurt; keep kept kept; kneel knelt knelt; know knew known;
lay laid laid; lead led led; lean leant leant; leap leapt leapt; learn learnt learnt; leave left left;
lend lent lent; let let let; lie lay lain; light lit lit; lose lost lost; make made made; mean meant meant;
meet met met; mistake mistook mistaken; overcome overcame overcome; pay paid paid; prove proved proven;
put put put; quit quit quit; read read read; rid rid rid; ride rode ridden; ring rang rung; rise rose risen;
run ran run; say said said; see saw seen; seek sought sought; sell sold sold; send sent sent; set set set;
sew sewed sewn; shake shook shaken; shed shed shed; shine shone shone; shoot shot shot; show showed shown;
shrink shrank shrunk; shut shut shut; sing sang sung; sink sank sunk; sit sat sat; sleep slept slept;
slide slid slid; sling slung slung; speak spoke spoken; speed sped sped; spell spelt spelt;
spend spent spent; spill spilt spilt; spin spun spun; spit spat spat; split split split; spread spread spread;
spring sprang sprung; stand stood stood; steal stole stolen; stick stuck stuck; sting stung stung;
stink stank stunk; strike struck struck; strive strove striven; swear swore sworn; sweep swept swept;
swim swam swum; swing swung swung; take took taken; teach taught taught; tear tore torn; tell told told;
think thought thought; throw threw thrown; thrust thrust thrust; tread trod trodden; understand understood understood;
undertake undertook undertaken; upset upset upset; wake woke woken; wear wore worn; weave wove woven;
weep wept wept; win won won; wind wound wound; withdraw withdrew withdrawn; write wrote written
"""

#: Verb forms no suffix rule finds: irregular present tense, clitics, and -ed/-ing forms the e-rules get wrong.
VERB_FORMS = {
    "am": "be", "is": "be", "are": "be", "'m": "be", "'re": "be", "ai": "be", "has": "have", "'ve": "have",
    "does": "do", "goes": "go", "ca": "can", "wo": "will", "'ll": "will", "'d": "would", "sha": "shall",
    "gon": "go", "dying": "die", "lying": "lie", "tying": "tie", "died": "die", "lied": "lie", "tied": "tie",
    "dies": "die", "lies": "lie", "ties": "tie", "added": "add", "adding": "add", "created": "create",
    "creating": "create",
}  # fmt: skip
#: Base verbs ending in -e that the restoring rules in lemmatize.py would miss (ignor(ed) -> ignore).
E_VERBS = _words("""
create ignore explore restore adore deplore implore guide persuade quote taste waste paste complete delete compete
deplete invite unite recite excite ignite incite prepare compare declare interfere adhere welcome postpone console
schedule compile describe subscribe prescribe include exclude conclude explode decode encode plunge lounge
""")
#: Irregular noun plurals (and -oes plurals, since "shoes" -> "shoe" is the default).
NOUN_FORMS = {
    "men": "man", "women": "woman", "children": "child", "feet": "foot", "teeth": "tooth", "geese": "goose",
    "mice": "mouse", "lice": "louse", "oxen": "ox", "knives": "knife", "lives": "life", "wives": "wife",
    "wolves": "wolf", "leaves": "leaf", "halves": "half", "selves": "self", "shelves": "shelf", "thieves": "thief",
    "calves": "calf", "loaves": "loaf", "elves": "elf", "criteria": "criterion", "phenomena": "phenomenon",
    "analyses": "analysis", "crises": "crisis", "theses": "thesis", "potatoes": "potato", "tomatoes": "tomato",
    "heroes": "hero", "echoes": "echo",
}  # fmt: skip
#: Irregular comparison of adjectives and adverbs.
ADJ_FORMS = {
    "better": "good", "best": "good", "worse": "bad", "worst": "bad", "further": "far", "farther": "far",
    "furthest": "far", "farthest": "far",
}  # fmt: skip
#: Object pronouns and clitics whose lemma is another word.
PRONOUN_FORMS = {"i": "I", "me": "I", "him": "he", "us": "we", "them": "they"}
PARTICLE_FORMS = {"n't": "not", "na": "to", "ta": "to"}

#: Words whose ending looks like an inflection but is part of the word (lemma = the word).
INVARIANT = _words("""
always perhaps sometimes afterwards towards besides nevertheless whereas unless thus yes this his hers its ours
yours theirs less across news series species physics mathematics politics economics lens
bus gas plus chaos atlas alias bias basis canvas christmas dress glass boss kiss
nothing something anything everything morning evening during ceiling wedding pudding king thing string spring
ring sing bring wing sibling darling
other mother father brother sister water never ever over under after number however whatever together rather
either neither whether paper weather winter summer member matter master order power computer
manner dinner corner monster letter minister offer answer enter remember consider gather wonder suffer
deliver discover
interest rest test west honest modest forest guest contest protest request
need feed seed deed weed heed reed bleed breed speed greed creed tweed succeed proceed exceed
red bed shed hundred sled
""")

#: Nouns ending in -ie whose plural -ies must not become -y (movies -> movie, not "movy").
IE_NOUNS = _words("movie cookie pie tie lie die rookie zombie hippie calorie smoothie selfie goalie prairie brownie")
#: Words after which a clitic 's means "is"/"has" rather than a possessive (it's, there's).
BE_HOSTS = _words("it he she that there here what who where how when why everything nothing")
