"""`qa eval`: retrieval and answer quality on a question set, or retrieval on a test collection
(a BEIR folder, TREC qrels beside a run), with a table, JSON and a report.

`data` reads question files, `beir` test collections, `metrics` scores (pure functions), `runner`
asks the questions or searches the queries, `reports` summarises and formats a run, `plots` draws
it; the command itself is in `qa.cli`.
"""
