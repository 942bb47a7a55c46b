"""Questions about the article itself — when it was published, which outlet published it, who
wrote it — answered from the article's own fields (date, publisher, author), not from its text.

`field_question` recognises such a question and the words that name the article ("the NHK
article", "Stoltenberg's visit"); `pick_article` chooses the article among the retrieved passages
(one the question names by its publisher, address or file, else the best-ranked); `field_answer`
answers with the field's value and cites the article, or says that the article lacks the field
(an undated article is never given a date). Pure functions over passages and documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from qa.documents import Answer, Citation, Passage

FIELDS = ("date", "publisher", "author")
# How the card and the CLI name each field.
FIELD_WORDS = {"date": "publication date", "publisher": "publisher", "author": "author"}

_ARTICLE = r"(?:article|story|report|interview|piece|news|item|column|op-?ed|editorial|post|coverage|feature|it|this)"
_OUTLET = (r"(?:news )?(?:outlet|publication|newspaper|paper|website|site|news agency|agency|media(?: outlet)?|"
           r"broadcaster|magazine|publisher|news organi[sz]ation|news source|source)")
_PUBLISH = r"(?:published|posted|put online|released|written|dated|run|printed|issued|filed)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        # "When was the NHK article published?", "When did the Massis Post interview come out?"
        ("date", rf"^when (?:was|were|is|has) (?P<about>.+?) (?:first |originally )?(?:{_PUBLISH}|come out|came out|appear(?:ed)?)\b"),
        ("date", r"^when did (?P<about>.+?) (?:first )?(?:come out|appear)\b"),
        ("date", rf"^(?:on )?(?:what|which) (?:date|day) (?:was|were|is) (?P<about>.+?) {_PUBLISH}\b"),
        ("date", r"^(?:what|which) (?:is|was) the (?:publication |publishing |release )?date of (?P<about>.+)"),
        ("date", rf"^how (?:old|recent) is (?P<about>.*\b{_ARTICLE}\b.*)"),
        # "Which outlet reported Stoltenberg's visit?", "What newspaper published the interview?"
        ("publisher", rf"^(?:which|what) {_OUTLET} (?:reported|published|ran|carried|covered|wrote|broke|posted|put out)(?: on| about)? (?P<about>.+)"),
        ("publisher", rf"^(?:which|what) {_OUTLET} (?:is|was) (?P<about>.+?) (?:from|in|by|on)\b"),
        ("publisher", r"^who (?:published|posted|ran|put out) (?P<about>.+)"),
        ("publisher", r"^(?:what|which|who) (?:is|was) the (?:source|publisher|outlet) (?:of|for|behind) (?P<about>.+)"),
        ("publisher", r"^where (?:was|were|is) (?P<about>.+?) (?:published|posted|printed|run)\b"),
        # "Who wrote the NHK article?", "Who is the author of the interview?"
        ("author", rf"^who (?:wrote|authored|penned|filed|reported) (?P<about>.*\b{_ARTICLE}\b.*)"),
        ("author", r"^who (?:is|was) (?:the )?(?:author|writer|reporter|journalist) (?:of|behind|who wrote) (?P<about>.+)"),
        ("author", r"^(?:what|which) (?:is|was) the (?:byline|author|writer)(?:'s name)? (?:of|on|for) (?P<about>.+)"),
        ("author", r"^by whom (?:was|were|is) (?P<about>.+?) (?:written|reported|authored)\b"),
    )
)
_ARTICLE_WORDS = re.compile(rf"\b(?:the|a|an|this|that)?\s*\b{_ARTICLE}\b", re.IGNORECASE)


@dataclass(frozen=True)
class FieldQuestion:
    """A question about an article's own `field`; `about` names the article ("the NHK article")."""

    field: str
    about: str

    @property
    def search_text(self) -> str:
        """What to retrieve the article with: `about` without the word "article" and its kin."""
        text = " ".join(_ARTICLE_WORDS.sub(" ", self.about).split())
        return text or self.about


def field_question(question: str) -> FieldQuestion | None:
    """The field a question about the article itself asks for, or None for any other question."""
    text = " ".join(question.split()).rstrip(" ?.!")
    for field, pattern in _PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        about = m.group("about").strip(" ,")
        # Date and author questions must name an article ("the interview", "it"): "When was the
        # treaty published?" asks about the treaty, not the article.
        if field != "publisher" and not re.search(rf"\b{_ARTICLE}\b", about, re.IGNORECASE):
            continue
        return FieldQuestion(field, about)
    return None


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _names(passage: Passage, source: str | None) -> set[str]:
    """What a question may call an article by: its publisher, its web address's site name, its
    file name's first word ("massispost" of massispost-armenia-nato-agenda.txt)."""
    names = set()
    publisher, url = passage.article.publisher, passage.article.url
    if publisher:
        names.add(_letters(publisher))
        names.add(_letters(publisher.split(".")[0]))
    if url:
        host = urlsplit(url).hostname or ""
        labels = [x for x in host.split(".") if x not in ("www", "www2", "www3", "m", "amp", "edition", "en")]
        if labels:
            names.add(_letters(labels[0]))
    for name in (passage.doc_id, source or ""):
        stem = re.split(r"[-_./ ]", name.rsplit("/", 1)[-1])[0]
        if len(stem) >= 3:
            names.add(_letters(stem))
    return {n for n in names if len(n) >= 2}


def named_in(about: str, passage: Passage, source: str | None = None) -> bool:
    """Whether `about` names the article by one of its names (`_names`): a capitalised word or
    run of words ("NHK", "Massis Post") that spells one of them."""
    names = _names(passage, source)
    words = re.findall(r"[A-Za-z0-9][\w’'&.-]*", about)
    for i in range(len(words)):
        for j in range(i + 1, min(i + 4, len(words)) + 1):
            run = words[i:j]
            if not run[0][0].isupper() and not run[0].isupper():
                continue
            if _letters("".join(run)) in names:
                return True
    return False


def pick_article(fq: FieldQuestion, passages: list[Passage], sources: dict[str, str] | None = None) -> Passage | None:
    """The best-ranked passage of the article the question names, else of the best-ranked article."""
    if not passages:
        return None
    sources = sources or {}
    for p in passages:
        if named_in(fq.about, p, sources.get(p.doc_id)):
            return p
    return passages[0]


def field_answer(question: str, fq: FieldQuestion, passage: Passage | None, value: str | None,
                 passages: list[Passage]) -> Answer:
    """The answer to a question about `passage`'s article: the field's `value` as stored, citing
    the article (the card shows the field); without a value, no answer, the article still cited,
    so that the reply can say the article lacks the field."""
    if passage is None:
        return Answer(question, None, 0.0, [], passages, answer_type=None)
    citation = Citation(passage, 0, 0)  # the answer is in the article's fields, not in its text
    value = value.strip() if value and value.strip() else None
    return Answer(question, value, 1.0 if value else 0.0, [citation], passages, answer_type="field", article_field=fq.field)
