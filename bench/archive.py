"""A small news archive that looks like the real thing: syndicated copies of one story and
stories that differ although they look alike. The story tests (tests/test_stories.py) and the
grouping's precision / recall in `python -m bench.copies` use it.

- the bundled NHK article (corpus/) and four copies of it: a new headline, an added boilerplate
  paragraph, a trimmed ending, a correction appended;
- the bundled Massis Post article: the same visit, a different story (must not merge with NHK);
- a flood report (12 dead, 28 February 2024) and a reprint of it with a new headline and a
  "Related:" line, and a later report of the same flood (40 dead, 1 March 2024): the answer to
  "how many died" changed between two dated articles;
- two ferry-captain articles a month apart, and two tram-line articles from two cities: similar
  topic and wording, different facts (must not merge).

`write_archive(folder)` writes them as .txt files and returns {file stem: story label}.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
NHK, MASSIS = "nhk-stoltenberg-visits-armenia", "massispost-armenia-nato-agenda"


def _article(title: str | None, publisher: str, date: str, url: str, body: str) -> str:
    head = f"Title: {title}\n" if title else ""
    return f"{head}Publisher: {publisher}\nDate: {date}\nURL: {url}\n\n{body.strip()}\n"


def nhk_body() -> list[str]:
    """The NHK article's paragraphs, once (the scraped page carries its body twice, then boilerplate)."""
    lines = [line.strip() for line in (CORPUS / f"{NHK}.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    first = lines[0]
    again = lines.index(lines[1], 2) if lines.count(lines[1]) > 1 else len(lines)
    return [first, *lines[1:again]]


FLOOD_FEB = """Floods in the Valdoria river valley have killed 12 people, regional officials said on Wednesday.

Heavy rain over the weekend pushed the Valdoria river over its banks, flooding the towns of Kessel and Marrow Ford.

Rescue teams used boats to reach families stranded on rooftops, and about 3,000 residents spent the night in schools and sports halls.

Regional governor Alma Ferrante said the authorities would pay for temporary housing and asked residents not to return home until the water had receded.

Forecasters expect more rain in the mountains north of the valley later this week."""

FLOOD_MAR = """The floods in the Valdoria valley have killed 40 people, the regional civil protection agency said on Friday, after divers recovered more bodies near the town of Marrow Ford.

Many of the victims were elderly people who could not leave their houses when the water rose during the night, agency spokesman Piet Honnen told reporters.

The search for 9 people still missing continues along the lower course of the river, where the current has slowed.

Opposition politicians have criticised the regional government for sending flood warnings by text message only, hours after the river had burst its banks.

Governor Alma Ferrante promised an independent inquiry into the response once the emergency is over."""

FERRY_FEB = """Captain Ingrid Valdemarsen took command of the Skerry Bay harbour ferry on Monday.

The Skerry Bay harbour ferry crosses the bay twelve times a day and carries about 900 passengers.

Valdemarsen served for eleven years as first officer on the island route before her promotion, the harbour authority said."""

FERRY_MAR = """Captain Tomas Lindqvist took command of the Skerry Bay harbour ferry on Friday, a month after his predecessor was appointed.

The harbour authority said the timetable of the ferry stays the same and that Valdemarsen had moved to the new northern route.

Lindqvist previously commanded the cargo ferry between Skerry Bay and the mainland for six years."""

TRAM_EAST = """The city council of Eastport voted on Tuesday to build a new tram line from the central station to the university campus.

The line will be 7 kilometres long, with 12 stops, and is expected to cost 180 million euros.

Mayor Lena Dorsch said construction would start next spring and the first trams would run in 2027.

The council approved the plan by 31 votes to 14, after a debate that lasted more than five hours."""

TRAM_WEST = """The city council of Westport voted on Thursday against building a new tram line from the harbour to the hospital district.

The line would have been 4 kilometres long, with 8 stops, and would have cost 95 million euros.

Mayor Joris Ekdahl said the city would instead add two express bus routes along the same streets next year.

The council rejected the plan by 22 votes to 19, after the regional government withdrew its share of the funding."""


def archive() -> dict[str, tuple[str, str]]:
    """{file stem: (story label, file text)}."""
    body = nhk_body()
    nhk_text = "\n\n".join(body)
    nhk = (
        "NATO chief Stoltenberg visits Armenia", "NHK WORLD", "2024-03-19",
        "https://www3.nhk.or.jp/nhkworld/en/news/20240319_10/",
    )
    out = {
        NHK: ("nhk", _article(*nhk, nhk_text)),
        "nhk-copy-headline": ("nhk", _article(
            "First NATO secretary general to visit Armenia arrives in Yerevan", "Caucasus Herald", "2024-03-19",
            "https://caucasus-herald.example/world/nato-chief-in-yerevan", nhk_text)),
        "nhk-copy-boilerplate": ("nhk", _article(
            "Stoltenberg in Yerevan: NATO seeks closer ties with Armenia", "Eurasia Review Daily", "2024-03-20",
            "https://eurasia-daily.example/2024/03/20/stoltenberg-yerevan",
            "This report is republished from NHK World under a content-sharing agreement between our newsrooms. "
            "It has been edited for length and style by the Eurasia Review Daily desk.\n\n" + nhk_text)),
        "nhk-copy-trimmed": ("nhk", _article(
            "NATO's Stoltenberg visits Armenia", "Transcaucasus Today", "2024-03-20",
            "https://transcaucasus.example/news/stoltenberg-armenia", "\n\n".join(body[: len(body) - 4]))),
        "nhk-copy-correction": ("nhk", _article(
            "NATO secretary general visits Armenia for the first time", "Black Sea Monitor", "2024-03-21",
            "https://blacksea-monitor.example/nato-armenia-visit",
            nhk_text + "\n\nCorrection: An earlier version of this article said the news conference took place on "
            "Monday. It took place on Tuesday.")),
        MASSIS: ("massis", (CORPUS / f"{MASSIS}.txt").read_text(encoding="utf-8")),
        "flood-february": ("flood-feb", _article(
            "Floods in Valdoria valley kill 12", "Northern Courier", "2024-02-28",
            "https://northern-courier.example/2024/02/28/valdoria-floods", FLOOD_FEB)),
        "flood-february-reprint": ("flood-feb", _article(
            "Valdoria river bursts its banks, twelve dead", "Alpine Post", "2024-02-29",
            "https://alpine-post.example/valdoria-river-floods",
            FLOOD_FEB + "\n\nRelated: How to prepare your home for a flood")),
        "flood-march": ("flood-mar", _article(
            "Valdoria flood death toll rises to 40", "Reuters", "2024-03-01",
            "https://reuters.example/world/valdoria-flood-toll-40", FLOOD_MAR)),
        "ferry-february": ("ferry-feb", _article(
            "Skerry Bay harbour ferry gets a new captain", "Skerry Bay Gazette", "2024-02-10",
            "https://example.org/news/ferry-february", FERRY_FEB)),
        "ferry-march": ("ferry-mar", _article(
            "Skerry Bay ferry changes hands again", "Skerry Bay Gazette", "2024-03-15",
            "https://example.org/news/ferry-march", FERRY_MAR)),
        "tram-eastport": ("tram-east", _article(
            "Eastport approves tram line to the university", "Eastport Tribune", "2024-04-02",
            "https://eastport-tribune.example/tram-line", TRAM_EAST)),
        "tram-westport": ("tram-west", _article(
            "Westport council rejects tram line", "Westport Echo", "2024-04-04",
            "https://westport-echo.example/tram-line-rejected", TRAM_WEST)),
    }
    return out


def write_archive(folder: Path) -> dict[str, str]:
    """Write the archive's files into `folder` (created); returns {file stem: story label}."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for stem, (label, text) in archive().items():
        (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
        labels[stem] = label
    return labels
