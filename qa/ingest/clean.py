"""Clean a scraped article's text into its body, its metadata, a headline and a publisher.

Works on any layout: one paragraph per line, paragraphs separated by blank lines, by runs of
spaces (the CNN/NewsQA dump layout) or by nothing at all. The text is cut into pieces (lines, or
the parts of a line between runs of spaces), and each piece into sentences; boilerplate rules drop
a whole piece ("You May Also Like" ends the page, a "Date: ..." line is lifted into the metadata)
or a single sentence (a copyright notice, a sign-up prompt, "See the full article at ..."), never
the body text around it. `CleanedArticle.text` is the body: every later offset (chunks, answers)
indexes into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Line breaks of every kind become "\n"; other control characters (NUL included) and stray
# byte-order marks are dropped, wherever they are in the text.
_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")

# A run of three or more spaces inside a line separates paragraphs (the layout of dumps that
# put each article on one line).
_SPACE_RUN = re.compile(r"[ \t\u00a0\u3000]{3,}")
# Two sentences glued without a space ("said.The", "inbox.267", "said.(5 comments)"): spaCy leaves
# "?The" and "!The" together. Not "3.5" or "U.S.".
_GLUED = re.compile(r"(?<=[a-z0-9)\]][.!?])(?=[A-Z]|[“\"(\[][A-Z0-9])|(?<=[a-z][.!?])(?=\d)")

# "Key: value" pieces that scrapers add to an article; the key names the field it is lifted into.
_META_KEYS = {
    "url": "url", "link": "url", "source url": "url", "canonical url": "url",
    "date": "date", "published": "date", "published on": "date", "publication date": "date",
    "id": "id", "article id": "id",
    "category": "category", "category id": "category", "section": "category",
    "title": "title", "headline": "title",
    "author": "author", "by": "author",
    "publisher": "publisher", "source": "publisher", "site": "publisher", "site name": "publisher",
    "created": "created", "updated": "updated", "last updated": "updated", "modified": "updated",
    "last read": "last_read",
    "tags": "tags",
}
_META_PIECE = re.compile(r"^([A-Za-z][A-Za-z ]{0,20}?)\s*:\s*(\S.{0,299}?)\s*$")
_DATE_KEYS = {"date", "created", "updated", "last_read"}
_DATE_WORDS = set(
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august "
    "september october november december mon tue wed thu fri sat sun monday tuesday wednesday thursday "
    "friday saturday sunday am pm at utc gmt et est edt pt pst pdt cet cest bst jst t z th st nd rd".split()
)

# Headings after which a scraped page holds only boilerplate (teaser lists, comment forms,
# summaries and statistics widgets), so the rest of the page is dropped.
_TAIL_HEADINGS = re.compile(
    r"^(you (may|might) also like|similar (readings|articles|stories|posts)|related"
    r"( (articles?|posts?|stories|news|content|coverage|reading))?|recommended"
    r"( (for you|reading|articles|stories))?|more (stories|news|articles|from [\w .'-]+)|"
    r"most (read|popular|viewed)|popular (posts|stories)|trending( now)?|read (next|also)|"
    r"see also|leave a (reply|comment)|post a comment|comments?|\d+ comments?|"
    r"join the (discussion|conversation)|statistics|details|tags|share this( article| story)?)$",
    re.IGNORECASE,
)
# A sentence (or piece) that is page furniture on its own.
_FURNITURE = re.compile(
    r"(advertisement|advertising|sponsored( content)?|skip to (main )?content|share|print|email|"
    r"tweet|facebook|twitter|whatsapp|linkedin|subscribe( now)?|sign up|log ?in|register|"
    r"read more|continue reading|click here.*|summary|read count.*|words\d*|views?|reads?|"
    r"name\s*\*?|e-?mail\s*\*?|website|comment\s*\*?|post comment|submit|e-?mail to a friend|"
    r"\W*\d[\d,. ]*\W*|\(?\d+ (items?|comments?|views?|reads?|shares?)\)?)[.:!]?",
    re.IGNORECASE,
)
# Phrases that make the sentence holding them furniture, wherever they are.
_FURNITURE_PHRASE = re.compile(
    r"your email address will not be published|required fields are marked|"
    r"sign up for (our|the|a) [\w ]{0,30}newsletter|subscribe to (our|the) [\w ]{0,20}newsletter|"
    r"get notified of the latest|save my name, email|notify me of (new|follow-up)|all rights reserved|"
    r"copyright ©|© ?\d{4}|copyright \d{4}|this site uses akismet|"
    r"(may|must) not be (re)?published, broadcast|"
    r"(see|read|view) the (full|original|complete) (article|story|report) (at|on|here)|"
    r"click here to (subscribe|sign up|read|see|watch|view)|follow us on (twitter|facebook|instagram|x\b)",
    re.IGNORECASE,
)
# Phrases a news sentence may well hold: furniture only in a short sentence.
_SHORT_FURNITURE_PHRASE = re.compile(
    r"in your inbox|cookies? (policy|settings)|privacy policy|terms of (use|service)", re.IGNORECASE
)
_SHORT_WORDS = 15

_DEDUP_MIN_WORDS = 6  # a repeated sentence this long is a repeated page block, not a refrain
_LONG_PIECE = 1000  # a piece longer than this without breaks is regrouped into paragraphs
_PARAGRAPH_CHARS = 400

# Headlines.
_HEADLINE_MAX_WORDS = 20
_HEADLINE_MAX_CHARS = 160
_CUT_MAX_CHARS = 100
_DATELINE = re.compile(
    r"^(?:[A-Z][A-Z'’.\-]+(?:[ ,]+[A-Za-z'’.\-]+){0,4}\s*)?(?:\((?:CNN|AP|AFP|Reuters|RFE/RL|[A-Z][\w/ ]{1,20})\)\s*)?"
    r"(?:—|–|--|-)\s+"
)
_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s(?=[—–]\s|--\s)")
_STOP_WORDS = set("a an and as at by for from in into of on or the to with that which who its their his her".split())
_BYLINE_OR_DATE = re.compile(
    r"^(by\s|updated\b|posted\b|published\b|(\w+day,?\s+)?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d)",
    re.IGNORECASE,
)
_HOST_PREFIX = re.compile(r"^(www\d*|m|amp|mobile)\.")


@dataclass(frozen=True)
class CleanedArticle:
    """The cleaned body text, the metadata lifted out of the page, its headline and publisher."""

    text: str
    meta: dict[str, str] = field(default_factory=dict)
    title: str = ""
    publisher: str | None = None


def strip_controls(text: str) -> str:
    """Line breaks of every kind as "\\n"; NUL, other control characters and BOMs removed."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def normalise_for_dedup(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def _looks_like_date(value: str) -> bool:
    words = re.findall(r"[A-Za-z]+", value)
    return any(c.isdigit() for c in value) and len(value) <= 40 and all(w.lower() in _DATE_WORDS for w in words)


def _meta_field(piece: str) -> tuple[str, str] | None:
    """("date", "March 20, 2024") for a piece that is a whole "Key: value" metadata line.

    Values are checked per key, so a key glued to body text ("URL: https://x Officials said ...")
    is left in the text rather than lifted with the body."""
    m = _META_PIECE.match(piece)
    if not m:
        return None
    key = _META_KEYS.get(m.group(1).strip().lower())
    value = m.group(2)
    if key is None:
        return None
    if key == "publisher" and value.lower().startswith(("http://", "https://")):
        key = "url"
    if key in ("url", "id"):
        ok = " " not in value and len(value) <= 300
    elif key in _DATE_KEYS:
        ok = _looks_like_date(value)
    elif key == "title":
        ok = not re.search(r"[.!?]\s+\S|\.$", value)
    else:  # author, category, publisher, tags: a few words, not a sentence
        ok = len(value.split()) <= 12 and not re.search(r"[.!?]$|[a-z][.!?]\s*[A-Z0-9(“\"]", value)
    return (key, value) if ok else None


def _is_tail_heading(piece: str) -> bool:
    # "Similar Readings (5 items)" and "Comments (3)" are headings too.
    bare = re.sub(r"\s*[\(\[]\s*\d+[^)\]]*[\)\]]\s*$", "", piece).strip(" :.-–—|#*")
    return bool(_TAIL_HEADINGS.fullmatch(bare))


def is_furniture(sentence: str) -> bool:
    """A sentence that is page furniture: a share button, a copyright notice, a sign-up prompt."""
    s = sentence.strip()
    if (len(s) <= 80 and _FURNITURE.fullmatch(s)) or _FURNITURE_PHRASE.search(s):
        return True
    return len(s.split()) <= _SHORT_WORDS and bool(_SHORT_FURNITURE_PHRASE.search(s))


def _line_pieces(text: str) -> list[str]:
    """Candidate paragraphs: lines (a hard-wrapped line joined to the next when that one goes on in
    lower case), each cut at runs of spaces."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            lines.append("")
        elif lines and lines[-1] and not re.search(r"[.!?:;\"”’)\]…]$", lines[-1]) and line[0].islower():
            lines[-1] += " " + line
        else:
            lines.append(line)
    return [part.strip() for line in lines for part in _SPACE_RUN.split(line) if part.strip()]


def _sentences(pieces: list[str]) -> list[list[tuple[int, int]]]:
    """The sentence spans of each piece (pieces hold no line break), split in one spaCy pass."""
    from qa.sentences import split_sentences

    starts, offset = [], 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece) + 1
    out: list[list[tuple[int, int]]] = [[] for _ in pieces]
    joined, n = "\n".join(pieces), 0
    for s, e in split_sentences(joined):
        while n + 1 < len(starts) and starts[n + 1] <= s:
            n += 1
        s, e = s - starts[n], e - starts[n]
        piece = pieces[n]
        cuts = [s] + [s + m.start() for m in _GLUED.finditer(piece[s:e]) if m.start() > 0] + [e]
        out[n].extend((a, b) for a, b in zip(cuts, cuts[1:]) if piece[a:b].strip())
    return out


def _paragraphs(piece: str, spans: list[tuple[int, int]], keep: list[bool]) -> list[str]:
    """The kept sentences of a piece as paragraphs. Neighbouring kept sentences keep the spacing
    between them; a long piece (a whole article on one line) is regrouped into paragraphs of a
    few sentences."""
    kept = [(i, s, e) for i, ((s, e), k) in enumerate(zip(spans, keep)) if k]
    groups: list[list[tuple[int, int, int]]] = [[]]
    for item in kept:
        groups[-1].append(item)
        if len(piece) > _LONG_PIECE and item[2] - groups[-1][0][1] >= _PARAGRAPH_CHARS:
            groups.append([])
    paragraphs = []
    for group in groups:
        if not group:
            continue
        text, (last, _, prev_end) = piece[group[0][1] : group[0][2]], group[0]
        for i, s, e in group[1:]:
            text += piece[prev_end:e] if i == last + 1 else " " + piece[s:e]
            last, prev_end = i, e
        paragraphs.append(text)
    return paragraphs


def clean_article(raw: str, fields: dict[str, str] | None = None) -> CleanedArticle:
    """Clean a scraped article's text.

    Keeps body sentences in order; drops furniture sentences, everything after a boilerplate
    section heading ("You May Also Like", "Leave a Reply", ...), and any paragraph or long
    sentence already seen in the document; lifts "Key: value" metadata pieces into `meta`.
    `fields` (title, url, date, publisher, ... given by the file format: an HTML page's metadata,
    a JSON record's keys, a Markdown heading) win over lifted lines. Paragraphs are separated by
    a blank line in the cleaned text.
    """
    meta: dict[str, str] = {}
    candidates: list[str] = []
    in_tail = False
    for piece in _line_pieces(strip_controls(raw)):
        lifted = _meta_field(piece)
        if lifted:
            meta.setdefault(*lifted)
        elif in_tail:
            continue
        elif candidates and _is_tail_heading(piece):
            in_tail = True
        elif not _FURNITURE.fullmatch(piece):
            candidates.append(piece)
    kept: list[str] = []
    seen: set[str] = set()
    first_sentence = ""
    for piece, spans in zip(candidates, _sentences(candidates)):
        key = normalise_for_dedup(piece)
        if not key or key in seen:
            continue
        keep = []
        for s, e in spans:
            sentence = piece[s:e]
            sentence_key = normalise_for_dedup(sentence)
            repeated = len(sentence_key.split()) >= _DEDUP_MIN_WORDS and sentence_key in seen
            keep.append(not repeated and not is_furniture(sentence))
            seen.add(sentence_key)
            if keep[-1] and not first_sentence and not _BYLINE_OR_DATE.match(sentence):
                first_sentence = sentence
        seen.add(key)
        kept.extend(_paragraphs(piece, spans, keep))
    for key, value in (fields or {}).items():
        value = " ".join(strip_controls(str(value)).split())
        if value:
            meta[key] = value
    text = "\n\n".join(kept)
    url = meta.get("url")
    title = " ".join(strip_controls(meta["title"]).split()) if meta.get("title") else headline(kept, url, first_sentence)
    publisher = meta.get("publisher") or publisher_from_url(url)
    return CleanedArticle(text=text, meta=meta, title=title, publisher=publisher)


# ---------------------------------------------------------------- headlines and publishers


def reads_like_headline(line: str) -> bool:
    """Short, a few words, no sentence-final period: "Harbour reopens after storm"."""
    words = line.split()
    return (
        2 <= len(words) <= _HEADLINE_MAX_WORDS
        and len(line) <= _HEADLINE_MAX_CHARS
        and not line.endswith((".", ",", ":", ";", "…"))
        and not _BYLINE_OR_DATE.match(line)
        and sum(ch.isalpha() for ch in line) >= 4
    )


def title_from_url(url: str | None) -> str | None:
    """"harbour-reopens-after-storm.html" -> "Harbour reopens after storm"; None for ids and dates."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    for part in reversed([p for p in path.split("/") if p][-2:]):
        part = re.sub(r"\.(s?html?|php|aspx?|cms)$", "", part, flags=re.IGNORECASE)
        tokens = [t for t in re.split(r"[-_+]+", part) if t]
        words = [t for t in tokens if t.isalpha()]
        if len(words) >= 3 and len(words) >= 0.6 * len(tokens):
            text = " ".join(t for t in tokens if not t.isdigit() or len(t) <= 4)
            return text[:1].upper() + text[1:]
    return None


def cut_headline(sentence: str) -> str:
    """A headline from an article's first sentence: the dateline ("BUENOS AIRES — ") left out,
    cut at a clause or word boundary when long."""
    s = " ".join(sentence.split())
    s = _DATELINE.sub("", s, count=1) or s
    s = s.rstrip(".").rstrip()
    if len(s) <= _CUT_MAX_CHARS + 10:
        return s
    for m in _CLAUSE_END.finditer(s):
        head = s[: m.start()].strip()
        if 25 <= len(head) <= _CUT_MAX_CHARS and len(head.split()) >= 4:
            return head
    words = s[: _CUT_MAX_CHARS + 1].split()[:-1] or s.split()[:1]
    while len(words) > 3 and words[-1].lower().strip(",;:") in _STOP_WORDS:
        words.pop()
    return " ".join(words).rstrip(",;:—–-") + "…"


def headline(paragraphs: list[str], url: str | None = None, first_sentence: str = "") -> str:
    """The first paragraph when it reads like a headline, else a title from the URL's slug, else
    the first sentence (of the first paragraph that is not a byline or a date), shortened."""
    if not paragraphs:
        return ""
    if reads_like_headline(paragraphs[0]):
        return paragraphs[0]
    from_url = title_from_url(url)
    if from_url:
        return from_url
    if not first_sentence:
        first = next((p for p in paragraphs if not _BYLINE_OR_DATE.match(p)), paragraphs[0])
        [spans] = _sentences([first])
        first_sentence = first[spans[0][0] : spans[0][1]] if spans else first
    return cut_headline(first_sentence)


def publisher_from_url(url: str | None) -> str | None:
    """The site's host as people write it: "https://www3.nhk.or.jp/..." -> "nhk.or.jp"."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _HOST_PREFIX.sub("", host) if host and "." in host else None
