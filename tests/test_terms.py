"""The lexical tokeniser (qa/terms.py): words of two or more word characters, lower-cased, Lucene's
English stop words dropped, Snowball (Porter 2) stems; the same for the index and for questions."""

from __future__ import annotations

from qa.terms import STOPWORDS, stem, terms, terms_of_many


def test_lucenes_english_stop_words():
    lucene = "a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with"
    assert frozenset(lucene.split()) == STOPWORDS
    assert terms("The cat is in the hat and it was not there") == ["cat", "hat"]
    assert terms("to be or not to be") == []


def test_snowball_stems():
    assert [stem(w) for w in "running generously relational connection universities happily".split()] == [
        "run", "generous", "relat", "connect", "universiti", "happili",
    ]
    assert terms("visited visits visiting") == ["visit", "visit", "visit"]


def test_case_is_folded_before_stop_words_and_stems():
    assert terms("The Running dogs are NOT in the park") == ["run", "dog", "park"]
    assert terms("NATO Nato nato") == ["nato", "nato", "nato"]
    assert terms("THE AND") == []  # stop words in capitals are still stop words


def test_punctuation_splits_words_and_single_characters_are_dropped():
    assert terms("NATO's Secretary-General visited Yerevan on 3 March 2024 - a 2-day trip.") == [
        "nato", "secretari", "general", "visit", "yerevan", "march", "2024", "day", "trip",
    ]  # "'s", "3", "2" and "a" are single characters; "on" is a stop word
    assert terms("rates, rates; (rates)!") == ["rate", "rate", "rate"]
    assert terms("") == [] and terms("... !!! - ") == []


def test_unicode_words_and_numbers():
    assert terms("Élections: élections") == ["élection", "élection"]
    assert terms("42 b2") == ["42", "b2"]


def test_many_is_terms_of_each():
    texts = ["Dogs chase cats.", "", "The cats sleep."]
    assert terms_of_many(texts) == [terms(t) for t in texts] == [["dog", "chase", "cat"], [], ["cat", "sleep"]]
    assert terms_of_many([]) == []
