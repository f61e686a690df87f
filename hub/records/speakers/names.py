"""People's names as the finder compares them: in any script, spelling, order or form.

Everything the speaker finder knows about names is here, in one place, for both engines and
for both sides of a search (the names indexed and the words asked):

* **Forms.** A name is read into up to three *forms*: its Latin form (any script transliterated
  by `anyascii`, accents folded, case and punctuation dropped), its own script's form where it is
  not written in Latin letters (so "Тимофей Овчинников" is found as written), and, where every
  word is made of Chinese syllables, those syllables one by one (so "Li Xiu-Fang", "Li Xiufang",
  "Xiufang Li" and 李秀芳 agree).
* **The skeleton** of a Latin word, in which common transliterations agree ("Mohammed",
  "Muhammad" and "Mohamed" -> "mhmd"; "Aleksandr" and "Alexander" -> "alksndr").
* **Nicknames** (Bill for William, Dick for Richard) from the `nicknames` data set, applied to
  the words asked, ranked below the same word.
* **Search keys**: what the database indexes for a name (`name_keys`) and looks up for a word
  asked (`word_keys`), so that a word within one slip of a name's word meets one of its keys.
  Keys are computed here only; the databases store them (`speaker_names.keys`).
* **Scores** from 0 (nothing alike) to 1 (the same name), one function for every source.

anyascii was chosen over ICU (PyICU, used by OpenSanctions' normality) because it covers every
Unicode script in pure Python with no native library to build, is ISC-licensed, and gives the
common romanisation for Cyrillic, Greek, Arabic, Hebrew and Devanagari names; Chinese characters
come out as pinyin syllables, which this module separates.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from anyascii import anyascii
from nicknames import NickNamer
from rapidfuzz.distance import Levenshtein

_NON_WORD = re.compile(r"[^a-z0-9]+")
#: Marks inside a word that are not word breaks ("O'Brien", "Ma'n", the Arabic ayn as "`").
_APOSTROPHES = re.compile("['`\u2018\u2019\u00b4\u02bc\u02bb\u02bf\u02be]")
_OWN_SCRIPT_BREAKS = re.compile(r"[\W_]+", re.UNICODE)

#: Words that say how someone is addressed, not who they are: ignored when names are compared
#: (they are still stored and shown).
HONORIFICS = frozenset(
    {
        "dr",
        "doctor",
        "prof",
        "professor",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "sir",
        "dame",
        "lord",
        "lady",
        "rev",
        "revd",
        "reverend",
        "cllr",
        "sheikh",
        "shaykh",
        "imam",
        "rabbi",
        "father",
        "sister",
        "brother",
    }
)

#: Ordered replacements that fold common transliteration and spelling variants together,
#: applied to space-padded Latin words. Word-initial vowels become "a" (Omar/Umar) and a
#: word-initial "y" is kept (Yusuf), a final "h" goes (Fatimah/Fatima), x/ph/c/kh/q/gh/th/dh/dj/w
#: fold (Alexander/Aleksandr, Khaled/Chaled, Qasim/Kasim, Wladimir/Vladimir), the remaining
#: vowels and "y" go (Yousef/Yusuf, Zaynab/Zainab) and doubled letters collapse
#: (Mohammed/Mohamed).
SKELETON_RULES: tuple[tuple[str, str], ...] = (
    (" a", " #"),
    (" e", " #"),
    (" i", " #"),
    (" o", " #"),
    (" u", " #"),
    (" y", " !"),
    ("h ", " "),
    ("x", "ks"),
    ("ph", "f"),
    ("w", "v"),
    ("c", "k"),
    ("kh", "k"),
    ("q", "k"),
    ("gh", "g"),
    ("th", "t"),
    ("dh", "d"),
    ("dj", "j"),
    ("a", ""),
    ("e", ""),
    ("i", ""),
    ("o", ""),
    ("u", ""),
    ("y", ""),
    *((letter + letter, letter) for letter in "bdfghjklmnprstvwxz"),
    ("#", "a"),
    ("!", "y"),
)


# --- reading a name into its forms -------------------------------------------------------


def _is_syllabic(char: str) -> bool:
    """Chinese characters and Korean syllable blocks: one romanised syllable each."""
    code = ord(char)
    return (
        0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xAC00 <= code <= 0xD7AF
        or 0x20000 <= code <= 0x2FFFF
    )


def _is_latin_letter(char: str) -> bool:
    return not char.isalpha() or unicodedata.name(char, "").startswith("LATIN")


@lru_cache(maxsize=65536)
def latin(name: str) -> str:
    """The Latin form: lower-case ASCII words, any script transliterated, accents folded,
    punctuation dropped ("Dr. José Núñez" -> "dr jose nunez", "郑丽华" -> "zheng li hua")."""
    text = name or ""
    if not text.isascii():  # (most names are: they need no transliteration)
        text = unicodedata.normalize("NFKC", text)
        if any(_is_syllabic(char) for char in text):
            text = "".join(f" {char} " if _is_syllabic(char) else char for char in text)
        text = anyascii(text)
    folded = _APOSTROPHES.sub("", text.lower())
    return " ".join(_NON_WORD.sub(" ", folded).split())


@lru_cache(maxsize=65536)
def own_script(name: str) -> str | None:
    """The name as written, where it is not in Latin letters ("тимофей овчинников"): case
    folded, punctuation dropped. None for a name in Latin letters (its Latin form is it)."""
    if (name or "").isascii():
        return None
    text = unicodedata.normalize("NFKC", name)
    if all(_is_latin_letter(char) for char in text):
        return None
    words = _OWN_SCRIPT_BREAKS.sub(" ", _APOSTROPHES.sub("", text).casefold()).split()
    return " ".join(words) or None


@lru_cache(maxsize=1)
def chinese_syllables() -> frozenset[str]:
    """Every syllable anyascii gives a Chinese character: the pinyin inventory, read from the
    transliteration itself rather than kept as a list of our own."""
    found = {anyascii(chr(code)).lower() for code in range(0x4E00, 0x9FA6)}
    return frozenset(s for s in found if s.isalpha())


@lru_cache(maxsize=65536)
def _segment(word: str) -> tuple[str, ...] | None:
    """The word as the fewest Chinese syllables ("xiufang" -> ("xiu", "fang")), or None."""
    inventory = chinese_syllables()
    best: list[tuple[str, ...] | None] = [()] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 6), end):
            before = best[start]
            if before is not None and word[start:end] in inventory:
                candidate = (*before, word[start:end])
                if best[end] is None or len(candidate) < len(best[end] or ()):
                    best[end] = candidate
    return best[len(word)]


def syllables(latin_form: str) -> str | None:
    """The Latin form as separate Chinese syllables where every word is made of them and there
    are at most four ("li xiufang" -> "li xiu fang"); None otherwise, or where it is already so."""
    words = latin_form.split()
    if not words or len(words) > 4:
        return None
    parts: list[str] = []
    for word in words:
        segmented = _segment(word) if len(word) <= 12 else None
        if segmented is None:
            return None
        parts.extend(segmented)
    if len(parts) > 4 or parts == words:
        return None
    return " ".join(parts)


def core_words(form: str) -> list[str]:
    """The words that identify someone (honorifics dropped, unless that leaves nothing)."""
    words = form.split()
    core = [word for word in words if word not in HONORIFICS]
    return core or words


@dataclass(frozen=True)
class Forms:
    """A name's forms: Latin, and where they apply its own script and its Chinese syllables."""

    latin: str
    own: str | None
    syllables: str | None

    def spelt(self) -> tuple[str, ...]:
        """The forms whose words are spelt in Latin letters (compared with each other)."""
        return (self.latin,) if self.syllables is None else (self.latin, self.syllables)


@lru_cache(maxsize=262144)
def forms(name: str) -> Forms:
    """A name read into its forms."""
    spelt = latin(name)
    return Forms(spelt, own_script(name), syllables(spelt))


def identity(name: str) -> tuple[str, str | None]:
    """What makes two written names one name: the same Latin form and the same own script
    ("Timofey Ovchinnikov" and "TIMOFEY OVCHINNIKOV" are one; "Тимофей Овчинников" is
    another, though it reads the same in Latin letters). Empty for a name with no letters."""
    read = forms(name or "")
    return (read.latin, read.own) if read.latin or read.own else ("", None)


def sorted_words(form: str) -> str:
    """The words in alphabetical order, so word order does not matter."""
    return " ".join(sorted(form.split()))


def comparable(name: str) -> str:
    """A name's identifying words, Latin form, in alphabetical order: two names that agree
    here differ only in case, accents, punctuation, script, honorifics or word order ("Dr
    Kasimir Fenhollow" and "Fenhollow, Kasimir")."""
    return sorted_words(" ".join(core_words(latin(name))))


@lru_cache(maxsize=262144)
def skeleton(words: str) -> str:
    """The transliteration skeleton of Latin words ("mohammed yousef" -> "mhmd ysf")."""
    text = f" {words} "
    for old, new in SKELETON_RULES:
        text = text.replace(old, new)
    return text.strip()


# --- nicknames --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _nicknamer() -> NickNamer:
    return NickNamer()


@lru_cache(maxsize=65536)
def variants(word: str) -> frozenset[str]:
    """Other forms of a given name: its nicknames and the names it is a nickname of
    ("bill" -> william, will, ...; "william" -> bill, billy, will, ...)."""
    if len(word) < 2 or not word.isalpha():
        return frozenset()
    namer = _nicknamer()
    found = set(namer.canonicals_of(word)) | set(namer.nicknames_of(word))
    found.discard(word)
    return frozenset(found)


# --- search keys ------------------------------------------------------------------------

#: A key for a word exactly as it is written (short words, and names in their own script).
EXACT = "="
#: Marks a key made by deleting one letter of a skeleton word.
DELETED = "~"


def key_prefix(owner: object) -> str:
    """What every search key of an organisation's names starts with (its id's first eight
    hex digits), so that one key lookup reads only that organisation's rows."""
    return str(owner).replace("-", "")[:8] + ":"


def _spelt_word_keys(word: str) -> set[str]:
    keys = {EXACT + word}
    shape = skeleton(word)
    if len(shape) >= 2:
        keys.add(shape)
    if len(shape) >= 4:
        keys.update(DELETED + shape[:i] + shape[i + 1 :] for i in range(len(shape)))
    return keys


def name_keys(owner: object, name: str) -> str:
    """The search keys of one name, space-separated, as `speaker_names.keys` holds them: for
    each word of its Latin and syllable forms, the word itself, its skeleton and (for skeletons
    of four letters or more) each skeleton with one letter deleted; each word of its own
    script's form as written; each behind the owner's prefix."""
    read = forms(name)
    keys: set[str] = set()
    for form in read.spelt():
        for word in core_words(form):
            keys.update(_spelt_word_keys(word))
    if read.own:
        keys.update(EXACT + word for word in read.own.split())
    prefix = key_prefix(owner)
    return " ".join(sorted(prefix + key for key in keys))


@lru_cache(maxsize=65536)
def close_word_keys(word: str) -> tuple[str, ...]:
    """The keys of one word asked that a name word meets when it is the same word, another
    spelling with the same skeleton, or a nickname or name variant: `word_keys` without the
    keys within one slip, which meet far more names (for where one word alone makes a
    candidate and only a bounded few of them can be looked at)."""
    keys = [EXACT + word]
    if len(skeleton(word)) >= 2:
        keys.append(skeleton(word))
    keys.extend(_variant_keys(word))
    return tuple(dict.fromkeys(keys))


def _variant_keys(word: str) -> list[str]:
    """The keys of a word's nicknames and name variants: each as written, and its skeleton
    where that has three letters or more (a two-letter skeleton, "kt" for Kate, meets far
    more names than the variant)."""
    keys = []
    for other in sorted(variants(word)):
        keys.append(EXACT + other)
        if len(skeleton(other)) >= 3:
            keys.append(skeleton(other))
    return keys


@lru_cache(maxsize=65536)
def word_keys(word: str) -> tuple[str, ...]:
    """The keys (without an owner's prefix) to look up for one word asked, so that a name word
    within one edit of it in skeleton form meets one: its close keys (the word, its skeleton,
    its nicknames and name variants); "~" and the skeleton (the word asked lacks a letter);
    for skeletons of four letters or more, each one-letter deletion, plain (it has an extra
    letter) and marked (a letter differs, or two are swapped)."""
    keys = list(close_word_keys(word))
    shape = skeleton(word)
    if len(shape) >= 3:
        keys.append(DELETED + shape)
    if len(shape) >= 4:
        for i in range(len(shape)):
            shorter = shape[:i] + shape[i + 1 :]
            keys.extend((shorter, DELETED + shorter))
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True)
class AskedForm:
    """One form of what was asked: its words (honorifics dropped) and each word's keys."""

    words: tuple[str, ...]
    keys: tuple[tuple[str, ...], ...]


def asked_forms(text: str) -> tuple[AskedForm, ...]:
    """The forms of a search string, each with the keys of its words. An initial ("E.") has
    no keys: it would meet every word that starts with its letter."""
    read = forms(text)
    found: list[AskedForm] = []
    for form in read.spelt():
        words = tuple(core_words(form))
        found.append(AskedForm(words, tuple(word_keys(w) for w in words if len(w) >= 2)))
    if read.own:
        words = tuple(read.own.split())
        found.append(AskedForm(words, tuple((EXACT + w,) for w in words)))
    return tuple(f for f in found if f.words)


# --- similarity -------------------------------------------------------------------------


@lru_cache(maxsize=262144)
def trigrams(text: str) -> frozenset[str]:
    """pg_trgm's trigrams: each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in text.split():
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def trigram_similarity(a: str, b: str) -> float:
    """Shared trigrams over all trigrams (pg_trgm's `similarity`)."""
    first, second = trigrams(a), trigrams(b)
    if not first or not second:
        return 0.0
    shared = len(first & second)
    return shared / (len(first) + len(second) - shared)


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute) from `a` to `b`."""
    return Levenshtein.distance(a, b)


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / the longer length (one slip in a short word stays close)."""
    if a == b:
        return 1.0
    return Levenshtein.normalized_similarity(a, b)


#: How alike a nickname or name variant counts (below the same word, above most slips).
VARIANT_SCORE = 0.9


@lru_cache(maxsize=262144)
def word_similarity(a: str, b: str) -> float:
    """How alike two single words are, allowing for slips, transliteration, nicknames and
    initials."""
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        # An initial ("E. Quillfeather") stands for any word with that first letter.
        return 0.7 if a[0] == b[0] else 0.0
    spelling = 0.95 * edit_similarity(a, b)
    if b in variants(a):
        spelling = max(spelling, VARIANT_SCORE)
    shape_a, shape_b = skeleton(a), skeleton(b)
    if shape_a == shape_b and len(shape_a) >= 2:
        return max(spelling, 0.9)
    if spelling >= 0.8:
        return spelling
    return max(spelling, 0.8 * edit_similarity(shape_a, shape_b))


def form_score(asked: str, held: str) -> float:
    """How well one form of a query matches one form of a name, in [0, 1], whatever the order
    of the words: each word asked is paired with its closest word of the name, and words of
    the name that nothing asked matched count a little against it."""
    if not asked or not held:
        return 0.0
    if asked == held:
        return 1.0
    words_asked, words_held = core_words(asked), core_words(held)
    table = [[word_similarity(word, other) for other in words_held] for word in words_asked]
    # A word that is only somewhat alike (Ahmed for Muhammad) counts for much less than one
    # that is nearly the same: squared below 0.8, so that a shared surname alone does not
    # make two people alike.
    best = sum(b if b >= 0.8 else b * b for b in (max(row) for row in table)) / len(words_asked)
    covered = sum(1 for j in range(len(words_held)) if max(row[j] for row in table) >= 0.7)
    score = 0.85 * best + 0.15 * covered / len(words_held)
    whole = trigram_similarity(
        sorted_words(" ".join(words_asked)), sorted_words(" ".join(words_held))
    )
    # Only an identical name scores 1: the same words in another order come just below.
    return min(max(score, whole), 0.99)


@lru_cache(maxsize=65536)
def name_score(asked: str, held: str) -> float:
    """How well a search string matches a name, in [0, 1] (1: the same name): the best of
    their Latin and syllable forms against each other, and of their own scripts' forms."""
    a, h = forms(asked), forms(held)
    best = max(form_score(x, y) for x in a.spelt() for y in h.spelt())
    if a.own and h.own:
        best = max(best, form_score(a.own, h.own))
    return best
