"""A probabilistic English-like grammar whose sentences can be checked exactly.

The ``grammar-text`` demos are drawn from it, so "is this sample
grammatical?" has an exact answer (:func:`check`), not a language model's
opinion. It has the structure that makes text generation non-trivial:

- **number agreement** of determiner, noun and verb (``this dog chases``,
  ``these dogs chase``, ``*these dog chases``), also across nesting: in
  ``the dog that chases the cats sleeps`` the relative clause's verb and the
  main verb both agree with ``dog``, not with the nearer ``cats``;
- **nesting**: relative clauses and prepositional phrases inside noun
  phrases, up to :data:`MAX_DEPTH` levels;
- **article agreement**: ``a`` before a consonant sound, ``an`` before a
  vowel sound (``a dog``, ``an old dog``, ``an engine``, ``*a engine``): the
  article agrees with the word right after it, adjective or noun;
- **mood** (statement ``… .`` or question ``does/do/did … ?``, whose verb
  is then in its base form) and **tense** (present or past);
- **topic**: the subject's head noun is an animal, a person or a machine;
- a vocabulary of about 400 words.

Rules (``num`` ∈ {sg, pl}; ``N`` the nesting depth)::

    S      → NP(num) VP(num, tense) "."
           | AUX(num, tense) NP(num) VP(base) "?"
    NP     → DET(num) [ADJ] NOUN(num) [PP | RC(num)]
             (DET "a" is written "an" before a vowel sound)
    PP     → PREP NP(any num)                      (depth + 1)
    RC     → "that" VP(num, tense)                 (depth + 1)
    VP(f)  → VT(f) NP(any num) | VI(f)
    AUX    → does (sg, present) | do (pl, present) | did (past)

A relative clause takes the tense of its sentence (a question's relative
clauses are present tense).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

#: Deepest nesting of PP/RC the generator produces and the checker accepts.
MAX_DEPTH = 2
#: Longest sentence the demos keep (tokens, punctuation included).
MAX_TOKENS = 22

MOODS = ("statement", "question")
TENSES = ("present", "past")
TOPICS = ("animals", "people", "machines")

_ANIMALS = ("dog cat horse cow sheep:sheep goat pig rabbit mouse:mice fox wolf:wolves bear lion "
            "tiger monkey donkey duck goose:geese owl eagle parrot snake frog turtle fish:fish "
            "whale dolphin shark bee ant spider camel zebra deer:deer squirrel hamster kitten "
            "puppy:puppies pony:ponies lamb calf:calves")
_PEOPLE = ("man:men woman:women child:children teacher doctor farmer baker sailor pilot painter "
           "singer student nurse judge king queen prince princess:princesses girl boy neighbour "
           "friend stranger driver waiter gardener hunter soldier artist poet writer dancer "
           "lawyer captain chef clerk tailor miner")
_MACHINES = ("robot truck car train:trains drone tractor computer crane engine rocket scooter "
             "bicycle bus:buses boat plane printer camera radio clock machine elevator "
             "submarine helicopter forklift vacuum")
# Transitive verbs: base form, or base:third-person:past for irregular ones.
_VERBS_T = ("chase watch:watches:watched follow help like visit call push pull clean "
            "carry:carries:carried see:sees:saw find:finds:found hear:hears:heard "
            "love greet miss:misses:missed meet:meets:met catch:catches:caught fix:fixes:fixed "
            "paint guide bite:bites:bit feed:feeds:fed lift wash:washes:washed teach:teaches:taught "
            "protect scare admire ignore tease:teases:teased "
            "remember thank trust warn")
_VERBS_I = ("sleep:sleeps:slept run:runs:ran wait smile jump laugh cry:cries:cried dance "
            "sing:sings:sang swim:swims:swam fall:falls:fell shout rest play work travel hide:hides:hid "
            "wander listen rise:rises:rose")
_ADJECTIVES = ("big small old young happy sad quick slow loud quiet brave shy clever lazy busy "
               "tired hungry angry calm gentle noisy tiny huge red blue green yellow black white "
               "friendly strange lucky proud kind wild clean dirty heavy light shiny rusty")
_PREPS = ("near behind with under beside above")
DET_SG = ("a", "every", "this", "each", "one")
DET_PL = ("some", "these", "many", "those", "two", "several")
DET_ANY = ("the",)
#: The form of the article ``a`` before a vowel sound (a form of ``a``, not a determiner of its own).
AN = "an"
# Vowel letters that sound as consonants, and silent h's: none is in the lexicon today,
# but a word added later must not quietly get the wrong article.
_CONSONANT_SOUND = ("one", "once", "uni", "use", "usu", "eu", "ewe")
_VOWEL_SOUND_H = ("hour", "honest", "honour", "heir")


def article(word: str) -> str:
    """The indefinite article before ``word``: ``an`` before a vowel sound, else ``a``."""
    if word.startswith(_VOWEL_SOUND_H):
        return AN
    if word[:1] in "aeiou" and not word.startswith(_CONSONANT_SOUND):
        return AN
    return "a"


def _plural(noun: str) -> str:
    if noun.endswith(("s", "sh", "ch", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _third(verb: str) -> str:
    return _plural(verb)


def _past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _nouns(spec: str) -> list[tuple[str, str]]:
    out = []
    for word in spec.split():
        sg, _, pl = word.partition(":")
        out.append((sg, pl or _plural(sg)))
    return out


def _verbs(spec: str) -> list[tuple[str, str, str]]:
    out = []
    for word in spec.split():
        parts = word.split(":")
        base = parts[0]
        out.append((base, parts[1] if len(parts) > 1 else _third(base),
                    parts[2] if len(parts) > 2 else _past(base)))
    return out


@dataclass(frozen=True)
class Lexicon:
    """Word lists and the reverse look-ups the checker needs."""

    nouns: dict[str, list[tuple[str, str]]]            # topic → (singular, plural)
    verbs_t: list[tuple[str, str, str]]                # (base, third person, past)
    verbs_i: list[tuple[str, str, str]]
    adjectives: tuple[str, ...]
    preps: tuple[str, ...]
    noun_info: dict[str, tuple[str, str]]              # word → (number, topic)
    verb_forms: dict[str, dict[str, set[str]]]         # "t"/"i" → form → words

    def words(self) -> set[str]:
        """Every word the grammar can produce."""
        out = set(self.noun_info) | set(self.adjectives) | set(self.preps)
        out |= {w for forms in self.verb_forms.values() for ws in forms.values() for w in ws}
        out |= set(DET_SG) | set(DET_PL) | set(DET_ANY) | {AN, "that", "does", "do", "did", ".", "?"}
        return out


@functools.lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The grammar's words (built once)."""
    nouns = {"animals": _nouns(_ANIMALS), "people": _nouns(_PEOPLE), "machines": _nouns(_MACHINES)}
    info: dict[str, tuple[str, str]] = {}
    for topic, pairs in nouns.items():
        for sg, pl in pairs:
            # sheep/fish/deer are both numbers: the checker accepts either.
            info[sg] = ("any" if sg == pl else "sg", topic)
            if pl != sg:
                info[pl] = ("pl", topic)
    verbs_t, verbs_i = _verbs(_VERBS_T), _verbs(_VERBS_I)
    forms: dict[str, dict[str, set[str]]] = {}
    for key, verbs in (("t", verbs_t), ("i", verbs_i)):
        forms[key] = {"base": {v[0] for v in verbs}, "sg": {v[1] for v in verbs},
                      "past": {v[2] for v in verbs}}
        forms[key]["pl"] = forms[key]["base"]
    return Lexicon(nouns, verbs_t, verbs_i, tuple(_ADJECTIVES.split()), tuple(_PREPS.split()),
                   info, forms)


# --- generation -----------------------------------------------------------------------
@dataclass(frozen=True)
class Sentence:
    """A generated sentence and its attributes."""

    words: tuple[str, ...]
    mood: str
    tense: str
    topic: str

    @property
    def text(self) -> str:
        return " ".join(self.words)


class Generator:
    """Draws sentences from the grammar with fixed rule probabilities.

    Parameters
    ----------
    seed : int
        Seed of its own :class:`random.Random` (same seed → same corpus).
    """

    P_QUESTION = 0.35
    P_PAST = 0.5
    P_PLURAL = 0.45
    P_ADJ = 0.3
    P_PP = 0.15
    P_RC = 0.2
    P_TRANSITIVE = 0.65

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)
        self.lex = lexicon()

    def sentence(self, mood: str | None = None, tense: str | None = None,
                 topic: str | None = None) -> Sentence:
        """One sentence; attributes not given are drawn (tries until it fits :data:`MAX_TOKENS`)."""
        r = self.rng
        while True:
            m = mood or ("question" if r.random() < self.P_QUESTION else "statement")
            t = tense or ("past" if r.random() < self.P_PAST else "present")
            top = topic or r.choice(TOPICS)
            num = "pl" if r.random() < self.P_PLURAL else "sg"
            if m == "statement":
                subject = self._np(num, 0, t, top)
                words = subject + self._vp(num if t == "present" else "past", 0, t) + ["."]
            else:
                aux = "did" if t == "past" else ("does" if num == "sg" else "do")
                # Relative clauses inside a question are present tense.
                subject = self._np(num, 0, "present", top)
                words = [aux] + subject + self._vp("base", 0, "present") + ["?"]
            if len(words) <= MAX_TOKENS:
                return Sentence(tuple(words), m, t, top)

    def _np(self, num: str, depth: int, tense: str, topic: str | None = None) -> list[str]:
        r, lex = self.rng, self.lex
        det = r.choice((DET_SG if num == "sg" else DET_PL) + DET_ANY)
        sg, pl = r.choice(lex.nouns[topic or r.choice(TOPICS)])
        words = [det]
        if r.random() < self.P_ADJ:
            words.append(r.choice(lex.adjectives))
        words.append(sg if num == "sg" else pl)
        if det == "a":  # after the draws: the corpus is the one "a"-only drew, "an" where due
            words[0] = article(words[1])
        if depth < MAX_DEPTH:
            u = r.random()
            if u < self.P_PP:
                other = "pl" if r.random() < self.P_PLURAL else "sg"
                words += [r.choice(lex.preps)] + self._np(other, depth + 1, tense)
            elif u < self.P_PP + self.P_RC:
                form = num if tense == "present" else "past"
                words += ["that"] + self._vp(form, depth + 1, tense)
        return words

    def _vp(self, form: str, depth: int, tense: str) -> list[str]:
        r = self.rng
        index = {"base": 0, "sg": 1, "pl": 0, "past": 2}[form]
        if r.random() < self.P_TRANSITIVE:
            verb = r.choice(self.lex.verbs_t)[index]
            obj = "pl" if r.random() < self.P_PLURAL else "sg"
            return [verb] + self._np(obj, depth, tense)
        return [r.choice(self.lex.verbs_i)[index]]


def corpus(n: int, seed: int) -> list[Sentence]:
    """``n`` sentences drawn with ``seed``."""
    gen = Generator(seed)
    return [gen.sentence() for _ in range(n)]


# --- checking ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Parse:
    """A grammatical sentence's attributes."""

    mood: str
    tense: str
    topic: str


def check(sentence: str | list[str] | tuple[str, ...]) -> Parse | None:
    """Parse ``sentence`` exactly: its attributes if the grammar derives it, else ``None``.

    A recursive-descent recogniser over all derivations (PP attachment is
    ambiguous; any derivation will do), memoised on positions.
    """
    words = tuple(sentence.split() if isinstance(sentence, str) else sentence)
    if len(words) < 3:
        return None
    return _Parser(words).sentence()


def is_grammatical(sentence: str) -> bool:
    return check(sentence) is not None


class _Parser:
    def __init__(self, words: tuple[str, ...]):
        self.w = words
        self.lex = lexicon()
        self.n = len(words)
        self._np_memo: dict[tuple[int, int, str], frozenset] = {}
        self._vp_memo: dict[tuple[int, str, int, str], frozenset] = {}

    def sentence(self) -> Parse | None:
        w, n = self.w, self.n
        if w[-1] == ".":
            for tense, form_of in (("present", {"sg": ("sg",), "pl": ("pl",), "any": ("sg", "pl")}),
                                   ("past", None)):
                for end, num, topic in self.np(0, 0, tense):
                    forms = ("past",) if form_of is None else form_of[num]
                    for form in forms:
                        if n - 1 in self.vp(end, form, 0, tense):
                            return Parse("statement", tense, topic)
            return None
        if w[-1] == "?":
            aux = w[0]
            tense = "past" if aux == "did" else "present"
            want = {"does": ("sg", "any"), "do": ("pl", "any"), "did": ("sg", "pl", "any")}.get(aux)
            if want is None:
                return None
            for end, num, topic in self.np(1, 0, "present"):
                if num in want and n - 1 in self.vp(end, "base", 0, "present"):
                    return Parse("question", tense, topic)
        return None

    def np(self, i: int, depth: int, tense: str) -> frozenset:
        """``{(end, number, topic)}`` of noun phrases starting at ``i``."""
        key = (i, depth, tense)
        if key in self._np_memo:
            return self._np_memo[key]
        self._np_memo[key] = frozenset()  # no left recursion, but be safe
        out: set[tuple[int, str, str]] = set()
        w, lex = self.w, self.lex
        if i < self.n:
            det = w[i]
            det_num = "sg" if det in DET_SG or det == AN else "pl" if det in DET_PL else \
                "any" if det in DET_ANY else None
            j = i + 1
            if det in ("a", AN) and (j >= self.n or article(w[j]) != det):
                det_num = None  # "a engine", "an dog": the article agrees with the next word
            if det_num is not None:
                starts = [j]
                if j < self.n and w[j] in lex.adjectives:
                    starts.append(j + 1)
                for k in starts:
                    if k >= self.n or w[k] not in lex.noun_info:
                        continue
                    noun_num, topic = lex.noun_info[w[k]]
                    num = _agree(det_num, noun_num)
                    if num is None:
                        continue
                    out.add((k + 1, num, topic))
                    if depth < MAX_DEPTH:
                        out |= self._modifiers(k + 1, num, topic, depth, tense)
        result = frozenset(out)
        self._np_memo[key] = result
        return result

    def _modifiers(self, i: int, num: str, topic: str, depth: int, tense: str) -> set:
        out: set[tuple[int, str, str]] = set()
        if i >= self.n:
            return out
        if self.w[i] in self.lex.preps:
            for end, _, _ in self.np(i + 1, depth + 1, tense):
                out.add((end, num, topic))
        elif self.w[i] == "that":
            nums = ("sg", "pl") if num == "any" else (num,)
            for one in nums:
                form = one if tense == "present" else "past"
                for end in self.vp(i + 1, form, depth + 1, tense):
                    out.add((end, one, topic))
        return out

    def vp(self, i: int, form: str, depth: int, tense: str) -> frozenset:
        """Ends of verb phrases of verb form ``form`` starting at ``i``."""
        key = (i, form, depth, tense)
        if key in self._vp_memo:
            return self._vp_memo[key]
        out: set[int] = set()
        if i < self.n:
            word = self.w[i]
            if word in self.lex.verb_forms["i"][form]:
                out.add(i + 1)
            if word in self.lex.verb_forms["t"][form]:
                out |= {end for end, _, _ in self.np(i + 1, depth, tense)}
        result = frozenset(out)
        self._vp_memo[key] = result
        return result


def _agree(det: str, noun: str) -> str | None:
    """The phrase's number from the determiner's and the noun's (``None``: they disagree)."""
    if det == "any":
        return noun
    if noun == "any":
        return det
    return det if det == noun else None


def attribute_value(parse: Parse, attribute: str) -> str:
    """The value of ``attribute`` (``mood``, ``tense``, ``topic`` or ``mood+tense``) of a parse."""
    if attribute == "mood+tense":
        return f"{parse.mood}+{parse.tense}"
    return str(getattr(parse, attribute))


def attribute_values(attribute: str) -> tuple[str, ...]:
    """The classes of ``attribute``, in a fixed order."""
    if attribute == "mood+tense":
        return tuple(f"{m}+{t}" for m in MOODS for t in TENSES)
    return {"mood": MOODS, "tense": TENSES, "topic": TOPICS}[attribute]
