"""Chinese text normalization and the multi-granularity token stream used by BM25.

Documents and questions go through the same ``TextProcessor`` so that both sides agree on every token:
jieba words (with the ERP dictionary), CJK character unigrams and bigrams, and codes kept whole.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from erp_assist.settings import Settings
    from indexer.vocab import Vocabulary

__all__ = ["TextProcessor", "normalize", "strip_chat_markup", "DICT_DIR"]

DICT_DIR = Path(__file__).resolve().parent / "dicts"

_CHAT_LABEL = re.compile(r"【\s*(问题|截图|期望结果|现象|补充|背景|问题描述|报错|附件)\s*】")
_PLACEHOLDER = re.compile(r"\[(图片|表情|文件|语音|视频|链接|动画表情|image|sticker)\]", re.IGNORECASE)
_MENTION = re.compile(r"@[^\s@，,:：]{1,20}")
# Emoji and pictographs: chat decoration, never meaning.
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]")
_PUNCT_MAP = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"',
                            "、": ",", "～": "~", "—": "-", "–": "-", "【": "[", "】": "]",
                            # Variant characters staff type interchangeably in accounting terms (过帐/过账).
                            "帐": "账"})
# Document numbers, material codes, error codes and T-codes: anything mixing letters and digits
# or joined by -, _, . or / (PO-2024-0315, MAT-000123, E1234, ME21N, F-02, F.13).
_CODE = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)+|[a-z]+\d[a-z0-9]*|\d+[a-z][a-z0-9]*")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD_OK = re.compile(r"[\w\u3400-\u9fff]")


def strip_chat_markup(text: str) -> str:
    """Remove chat decoration: 【问题】-style labels, @mentions, [图片] placeholders, emoji."""
    text = _CHAT_LABEL.sub(" ", text)
    text = _PLACEHOLDER.sub(" ", text)
    text = _MENTION.sub(" ", text)
    return _EMOJI.sub(" ", text)


def normalize(text: str, converter: object | None = None) -> str:
    """Full-width→half-width (NFKC), Traditional→Simplified, lower case, chat markup removed,
    punctuation unified, whitespace collapsed. The original text is kept elsewhere for display."""
    text = strip_chat_markup(text)
    text = unicodedata.normalize("NFKC", text)
    if converter is not None:
        text = converter.convert(text)  # type: ignore[attr-defined]
    text = text.translate(_PUNCT_MAP).lower()
    return re.sub(r"\s+", " ", text).strip()


@cache
def _opencc_t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def jieba_pack_words(vocabulary: Vocabulary) -> tuple[str, ...]:
    """The words of a vocabulary that join jieba's dictionary: those with Chinese characters."""
    return tuple(w for w in vocabulary.words if _CJK.search(w))


@cache
def _jieba_tokenizer(user_dict: Path | None, extra_words: tuple[str, ...]):  # noqa: ANN202 - jieba has no types
    """One jieba tokenizer per dictionary set and process: its dictionary takes about 70 MB, and processors that
    differ only in token weights (the served one, the classifier's) tokenize words alike."""
    import jieba

    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    tokenizer.load_userdict(str(DICT_DIR / "erp.txt"))
    for word in extra_words:
        tokenizer.add_word(word, freq=500)
    if user_dict is not None:
        if not user_dict.is_file():
            raise ValueError(f"user_dict {user_dict} does not exist; set ERP_ASSIST_USER_DICT to a file")
        tokenizer.load_userdict(str(user_dict))
    return tokenizer


class TextProcessor:
    """Normalizes and tokenizes Chinese ERP text. Heavy parts (jieba, OpenCC) load lazily, once."""

    def __init__(self, user_dict: Path | None = None, *, word_weight: int = 1, unigram_weight: int = 2,
                 bigram_weight: int = 1, vocabulary: Vocabulary | None = None,
                 jieba_words: tuple[str, ...] = ()) -> None:
        if min(word_weight, unigram_weight, bigram_weight) < 0 or not (word_weight or unigram_weight or bigram_weight):
            raise ValueError("token weights must be ≥ 0 and not all 0; set ERP_ASSIST_BM25_*_WEIGHT")
        self.user_dict = user_dict
        self.word_weight = word_weight
        self.unigram_weight = unigram_weight
        self.bigram_weight = bigram_weight
        # ERP vocabulary packs (indexer.vocab): vendor terms kept whole, codes by the vendors' patterns, and a
        # concept token beside every name of a shared concept. None: the generic dictionary only.
        self.vocabulary = vocabulary
        # Words for jieba's dictionary only (no concept tokens): the classifier's processor takes the shipped packs'
        # words, so it and a served processor with every pack share one dictionary in memory.
        self.jieba_words = jieba_words

    @classmethod
    def from_settings(cls, settings: Settings, vocabulary: Vocabulary | None | bool = True,
                      **overrides: int) -> TextProcessor:
        """A processor as configured; ``vocabulary`` True loads the packs the settings choose
        (``ERP_ASSIST_ERP_VENDORS``, the tenant's own pack), False or None uses none."""
        weights = {"word_weight": settings.bm25_word_weight, "unigram_weight": settings.bm25_unigram_weight,
                   "bigram_weight": settings.bm25_bigram_weight, **overrides}
        if vocabulary is True:
            from indexer.vocab import vocabulary_for_settings

            vocabulary = vocabulary_for_settings(settings)
        return cls(settings.user_dict, **weights, vocabulary=vocabulary or None)

    @property
    def vocabulary_fingerprint(self) -> str | None:
        return self.vocabulary.fingerprint if self.vocabulary is not None else None

    @cached_property
    def _converter(self) -> object:
        return _opencc_t2s()

    @cached_property
    def _jieba(self):  # noqa: ANN202 - jieba has no types
        # ASCII codes and names are kept whole before jieba sees the text; CJK pack words join its dictionary.
        words = jieba_pack_words(self.vocabulary) if self.vocabulary is not None else self.jieba_words
        return _jieba_tokenizer(self.user_dict, (*self.synonyms, *words))

    @cached_property
    def synonyms(self) -> dict[str, str]:
        """Word → canonical word of its synonym group (dicts/synonyms.txt)."""
        mapping: dict[str, str] = {}
        for line in (DICT_DIR / "synonyms.txt").read_text(encoding="utf-8").splitlines():
            words = [w.lower() for w in line.split()] if not line.startswith("#") else []
            for word in words[1:]:
                mapping[word] = words[0]
        return mapping

    @cached_property
    def stopwords(self) -> frozenset[str]:
        lines = (DICT_DIR / "stopwords.txt").read_text(encoding="utf-8").splitlines()
        return frozenset(line.strip() for line in lines if line.strip())

    def normalize(self, text: str) -> str:
        return normalize(text, self._converter)

    def tokenize(self, text: str) -> list[str]:
        """Token stream for BM25: codes whole, jieba words, CJK char unigrams and bigrams, each repeated by its
        weight (unigrams count double by default: they survive segmentation errors and typos, and measured
        best on the golden, Odoo and AFQMC sets)."""
        norm = self.normalize(text)
        tokens: list[str] = []
        if self.vocabulary is not None:
            norm, tokens = self._vocabulary_tokens(norm)
        for match in _CODE.finditer(norm):
            code = match.group(0)
            tokens.append(code)
            # "po-2024-0315" also yields "po" (the document type); T-codes like "me21n" stay whole only.
            prefix = re.match(r"([a-z]+)[-_./]", code)
            if prefix:
                tokens.append(prefix.group(1))
        rest = _CODE.sub(" ", norm)
        if self.word_weight:
            words: list[str] = []
            for word in self._jieba.cut(rest):
                word = word.strip()
                if word and word not in self.stopwords and _WORD_OK.search(word):
                    words.append(word)
                    if word in self.synonyms:
                        words.append(self.synonyms[word])
            tokens.extend(words * self.word_weight)
        if self.unigram_weight or self.bigram_weight:
            for run in _CJK.findall(rest):
                tokens.extend([ch for ch in run if ch not in self.stopwords] * self.unigram_weight)
                bigrams = [run[i : i + 2] for i in range(len(run) - 1)]
                tokens.extend([b for b in bigrams if b not in self.stopwords] * self.bigram_weight)
        return tokens

    def _vocabulary_tokens(self, norm: str) -> tuple[str, list[str]]:
        """Concept tokens of the names in the text, the vendors' codes whole (M7 021 → m7021), multi-word
        English names whole; returns the text with the codes blanked out for the generic steps."""
        vocabulary = self.vocabulary
        assert vocabulary is not None
        from indexer.vocab import CONCEPT_PREFIX

        matches = vocabulary.term_matches(norm)  # the scan is most of tokenizing with packs: once per text
        tokens = [CONCEPT_PREFIX + concept for concept in vocabulary.concepts_of(matches)]
        codes = vocabulary.code_spans(norm)
        for match in matches:
            inside_code = any(start <= match.start < end for start, end in codes)
            if " " in match.term and not inside_code:  # "goods receipt": jieba would cut it in two
                tokens.append(match.term.replace(" ", "_"))
        rest = []
        last = 0
        for start, end in codes:
            tokens.append(norm[start:end].replace(" ", ""))
            rest.append(norm[last:start])
            last = end
        rest.append(norm[last:])
        return " ".join(rest), tokens

    def words(self, text: str) -> set[str]:
        """What ``text`` is about: its codes and its jieba words of two characters or more, stopwords left out
        (no character n-grams, no synonyms)."""
        norm = self.normalize(text)
        codes = {match.group(0) for match in _CODE.finditer(norm)}
        cut = (word.strip() for word in self._jieba.cut(_CODE.sub(" ", norm)))
        return codes | {w for w in cut if len(w) >= 2 and w not in self.stopwords and _WORD_OK.search(w)}

    def frequency(self, word: str) -> int:
        """How common ``word`` is in jieba's dictionary (0 when it is not there; ERP words count as common)."""
        return int(self._jieba.FREQ.get(word) or 0)

    def warm_up(self) -> None:
        """Load jieba and OpenCC now instead of on the first question."""
        self.tokenize("凭证过账")
