"""qa/render.py: the app's HTML, checked on small hand-made records (escaping, offsets, links, shapes)."""

from __future__ import annotations

from dataclasses import replace

from qa.documents import Answer, ArticleMeta, Chunk, Citation, Passage, PossibleAnswer
from qa.ingest.read import IngestReport
from qa.render import (
    answer_html,
    article_card,
    article_rows,
    copies_line,
    escape,
    format_passages,
    highlight,
    highlight_spans,
    index_holds,
    link,
    message,
    removal_question,
    removed_line,
    safe_url,
    shown_question,
    upload_lines,
)
from qa.sources import ArticleCard, Excerpt, undated_note
from qa.store.catalog import DocRecord


def _passage(text: str, url: str | None = "https://e.org/a", title: str = "Title") -> Passage:
    return Passage(Chunk("a#0", "a", 0, len(text), text), ArticleMeta("a", title, url, "2024-03-20", "Example News"), 0.5)


def test_escape_quotes_markup_and_folds_line_breaks():
    assert escape("""a<b>&"'""") == "a&lt;b&gt;&amp;&quot;&#x27;"
    assert escape("one \n\n  two\nthree") == "one<br><br>two<br>three"
    assert escape(None) == ""


def test_highlight_cuts_by_offsets_and_clamps_them():
    assert highlight("abcdef", 2, 4) == "ab<mark>cd</mark>ef"
    assert highlight("abc", 2, 10) == "ab<mark>c</mark>"  # an end past the text stops at its end
    assert highlight("abc", 2, 2) == "abc"  # an empty span marks nothing
    assert highlight("a<b", 1, 2) == "a<mark>&lt;</mark>b"  # escaped inside the mark too
    # Spans are marked in order; one overlapping the previous starts where that one ended.
    assert highlight_spans("abcdef", [(0, 3), (2, 5)]) == "<mark>abc</mark><mark>de</mark>f"


def test_only_http_urls_become_links_and_are_escaped():
    assert safe_url(" HTTPS://e.org/x ") == "HTTPS://e.org/x"
    assert safe_url("javascript:alert(1)") is None and safe_url("data:text/html,x") is None and safe_url(None) is None
    assert link("T", "javascript:alert(1)") == "T"
    assert link("T", 'https://e.org/"x') == (
        '<a href="https://e.org/&quot;x" target="_blank" rel="noopener noreferrer">T</a>'
    )


def test_card_escapes_its_title_and_never_links_an_unsafe_url():
    card = ArticleCard(2, ArticleMeta("doc", "<b>Big</b> news", "javascript:alert(1)", "2024-03-20", "Example News"),
                      (Excerpt("He said x.", 0, ((8, 9),)),))
    assert article_card(card) == (
        '<div class="qa-card"><div class="qa-card-head"><span class="qa-num">[2]</span>&lt;b&gt;Big&lt;/b&gt; news</div>'
        '<div class=qa-meta>Example News · 2024-03-20</div><div class="qa-card-passage">He said <mark>x</mark>.</div></div>'
    )


def test_copies_line_names_the_publisher_and_links_only_safe_urls():
    copies = [ArticleMeta("r1", "Reprint", "https://alpine.example/r", "2024-02-29", "Alpine Post"),
              ArticleMeta("r2", "Other", "javascript:x")]
    assert copies_line(copies) == (
        '<div class="qa-meta qa-copies">also published by <a href="https://alpine.example/r" target="_blank" '
        'rel="noopener noreferrer">Alpine Post</a> (29 February 2024) · r2</div>'
    )
    assert copies_line([]) == ""


def test_abstention_without_passages():
    reply = answer_html(Answer("Why?", None, 0.1, [], []), 0.25, "from 2024-01-01 <x>")
    assert reply == (
        '<div class="qa-verdict qa-abstain"><p class="qa-answer"><strong>The indexed articles don\'t say.</strong></p>'
        '<div class="qa-meta">No passage from 2024-01-01 &lt;x&gt; answers this confidently enough '
        "(best candidate 0.10, threshold 0.25).</div></div>"
        '<p class="qa-meta">No passage from 2024-01-01 &lt;x&gt; matched the question at all.</p>'
    )


def test_answer_possible_answer_and_abstention_shapes():
    p = _passage("Jens Stoltenberg visited Yerevan.")
    answer = answer_html(Answer("Who?", "Jens  Stoltenberg", 0.9, [Citation(p, 0, 16)], [p], "span", band="high"), 0.25)
    assert answer.startswith('<div class="qa-verdict qa-answered"><p class="qa-answer"><strong>Jens Stoltenberg</strong>'
                             '<sup class="qa-ref">[1]</sup></p>')
    assert ">high confidence (0.90)</span> · 1 article</div></div>" in answer
    assert "<mark>Jens Stoltenberg</mark> visited Yerevan." in answer and "\n" not in answer
    # An answer below "medium" is a low-confidence answer; without a band, only the number.
    low = answer_html(Answer("Who?", "Jens Stoltenberg", 0.2, [Citation(p, 0, 16)], [p], "span", band="low"), 0.17)
    assert ">low confidence (0.20)</span>" in low and "qa-confidence-low" in low
    unbanded = answer_html(Answer("Who?", "Jens Stoltenberg", 0.2, [Citation(p, 0, 16)], [p], "span"), 0.17)
    assert ">confidence 0.20</span>" in unbanded and "low" not in unbanded

    possible = answer_html(
        Answer("Who?", None, 0.2, [], [p], candidate=PossibleAnswer("Stoltenberg", 0.2, Citation(p, 5, 16))), 0.3
    )
    # "check the source" comes before the text, in its own class, with no band word
    assert possible.startswith('<div class="qa-verdict qa-possible"><p class="qa-possible-label">'
                               '<span class="qa-icon" aria-hidden="true">?</span>'
                               "Possible answer — check the source before relying on it</p>"
                               '<p class="qa-possible-text">Stoltenberg<sup class=qa-ref>[1]</sup></p>')
    assert '<div class="qa-meta">confidence 0.20, below the 0.30 needed to answer</div></div>' in possible
    assert "low confidence" not in possible and "<strong>" not in possible
    assert possible.count('class="qa-card"') == 1 and "Jens <mark>Stoltenberg</mark>" in possible

    abstain = answer_html(Answer("Why?", None, 0.1, [], [p, p, p, p]), 0.25)
    assert '<details class="qa-closest"><summary>The closest passages (1 article)</summary>' in abstain
    assert "<mark>" not in abstain


def test_undated_articles_left_out_are_counted_under_each_state():
    p = _passage("Jens Stoltenberg visited Yerevan.")
    note = '<div class="qa-meta qa-undated">2 undated articles left out by the date range.</div></div>'
    shapes = [
        Answer("Who?", "Jens Stoltenberg", 0.9, [Citation(p, 0, 16)], [p], "span", band="high", undated_left_out=2),
        Answer("Who?", None, 0.2, [], [p], candidate=PossibleAnswer("Stoltenberg", 0.2, Citation(p, 5, 16)),
               undated_left_out=2),
        Answer("Why?", None, 0.1, [], [p], undated_left_out=2),
    ]
    for shape in shapes:
        assert note in answer_html(shape, 0.3)
    assert "undated" not in answer_html(replace(shapes[0], undated_left_out=0), 0.3)
    assert undated_note(1) == "1 undated article left out by the date range." and undated_note(0) == ""


def test_passages_are_ranked_with_their_scores():
    assert format_passages([]) == "<p>No passages.</p>"
    assert format_passages([], "Top & more") == "<div>Top &amp; more</div><p class='qa-meta'>No passages.</p>"
    out = format_passages([_passage("One."), _passage("Two.")], "H")
    assert out.startswith('<p class="qa-meta">H</p><div class="qa-rank qa-meta">#1 ')
    assert "#2 " in out and out.count("score 0.5000") == 2 and '<span class="qa-num">[2]</span>' in out


def test_question_echo_and_messages():
    assert shown_question("  what\n is <it>? ") == "<p>what is &lt;it&gt;?</p>"
    assert shown_question(" \n ") == "<em>(empty question)</em>"
    assert shown_question("x" * 401) == "<p>" + "x" * 400 + " … <em>(401 characters)</em></p>"
    assert message("a<b") == "<p>a&lt;b</p>"


def test_index_and_upload_replies():
    assert index_holds(1, 2400) == "1 article, 2,400 passages"
    added = IngestReport(added=["a", "b"], unchanged=["c"], total_documents=3, total_chunks=1)
    assert upload_lines(added) == ["Added: a, b.", "Unchanged: c.", "The index holds 3 articles, 1 passage; new questions see them."]
    same = IngestReport(unchanged=["c"], total_documents=1, total_chunks=2)
    assert upload_lines(same) == ["Unchanged: c.", "Nothing new was added; the index is unchanged.",
                                  "The index holds 1 article, 2 passages; new questions see them."]
    assert removed_line(IngestReport(removed=["a"], total_documents=0)) == "Removed: a. The index holds 0 articles."


def test_article_rows_list_each_story_with_its_copies_marked():
    def record(doc_id: str, title: str | None, n_chunks: int) -> DocRecord:
        return DocRecord("s000001", 0, ArticleMeta(doc_id, title, None, "2024-03-20"), f"{doc_id}.txt", "h", n_chunks)

    stories = [[record("nhk", "Stoltenberg visits Armenia", 4), record("nhk-2", "Stoltenberg in Yerevan", 4)],
               [record("massis", None, 5)]]
    rows, choices = article_rows(stories)
    assert rows == [
        ["nhk", "Stoltenberg visits Armenia", "2024-03-20", "", 4],
        ["nhk-2", "= Stoltenberg in Yerevan", "2024-03-20", "", 4],
        ["massis", "massis", "2024-03-20", "", 5],
    ]
    assert choices == [("Stoltenberg visits Armenia (nhk)", "nhk"), ("Stoltenberg in Yerevan (nhk-2)", "nhk-2"),
                       ("massis (massis)", "massis")]
    assert article_rows([]) == ([], [])
    # A long headline is listed whole up to 160 characters, else cut at a word with "…", never mid-word.
    whole = "Armenia's foreign minister says joining NATO is not on the agenda as Yerevan deepens ties with the West"
    long = whole + " while its security partnership with Moscow frays over Nagorno-Karabakh and the CSTO"
    _, choices = article_rows([[record("a", whole, 1)], [record("b", long, 1)]])
    assert choices[0] == (f"{whole} (a)", "a")
    label = choices[1][0]
    assert label.endswith("… (b)") and long.startswith(label[: -len("… (b)")]) and len(label) <= 160 + 4
    assert long[len(label) - len("… (b)")] == " "  # cut at a word boundary


def test_removal_question_names_each_whole_headline():
    html = removal_question([("nhk", "Stoltenberg <visits> Armenia"), ("x", "")])
    assert html.startswith("<p><strong>Remove 2 articles from the index?</strong></p>")
    assert "<li>Stoltenberg &lt;visits&gt; Armenia <span class='qa-meta'>(nhk)</span></li>" in html
    assert "<li>x <span class='qa-meta'>(x)</span></li>" in html


def test_a_field_answer_shows_the_value_its_source_and_the_article():
    p = _passage("Body of the article.")
    dated = Answer("When was it published?", "2024-03-20", 1.0, [Citation(p, 0, 0)], [p], "field", article_field="date")
    html = answer_html(dated, 0.17)
    assert "<strong>2024-03-20</strong>" in html and "from the article&#x27;s publication date field" in html
    assert "qa-field" in html and "Example News" in html and "<mark" not in html
    undated = replace(dated, answer=None, confidence=0.0)
    assert "The article is undated: the index has no publication date for it." in answer_html(undated, 0.17)
