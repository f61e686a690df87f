"""The search-quality benchmark (bench/quality_bench.py) on a tiny set: its people and queries
are what it says they are, and its scores are well formed. Nothing here depends on how well
the hub searches today."""

from __future__ import annotations

from bench import quality_bench as bench


def test_the_set_repeats_and_no_two_people_share_a_name_key():
    folk = bench.people(300)
    assert folk == bench.people(300)
    owners: dict[str, int] = {}
    for n, person in enumerate(folk):
        for form in person.forms:
            assert owners.setdefault(bench.name_key(form), n) == n
    scripts = [p for p in folk if p.locale in bench.NON_LATIN]
    assert scripts and all(p.display_name.isascii() for p in scripts)
    assert any(p.script_held for p in scripts) and any(not p.script_held for p in scripts)


def test_each_query_is_meant_for_one_person_and_no_one_else():
    folk = bench.people(300)
    asked = bench.queries(folk, 45)
    assert {q.kind for q in asked} == set(bench.KINDS)
    owners = {bench.name_key(form): n for n, p in enumerate(folk) for form in p.forms}
    for query in asked:
        assert owners.get(bench.name_key(query.text), query.target) == query.target, query
        if query.kind == "exact":
            assert query.text == folk[query.target].display_name
        if query.kind in bench.CHANGED:
            held = {bench.name_key(form) for form in folk[query.target].forms}
            assert bench.name_key(query.text) not in held, query


def test_scores_on_a_tiny_set_cover_every_kind_and_stay_in_range(tmp_path):
    report, _ = bench.evaluate(300, 45, engines=("SQLite",), folder=tmp_path)
    assert report.kinds == set(bench.KINDS)
    assert [r.name for r in report.rankings] == [
        "hub SQLite",
        "rapidfuzz token_sort_ratio",
        "rapidfuzz WRatio",
    ]
    for ranking in report.rankings:
        assert len(ranking.found) == len(report.asked)
        for row, _ in report.rows:
            scores = report.scores(ranking, row)
            assert 0 <= scores.recall_1 <= scores.recall_10 <= 1, (ranking.name, row)
            assert scores.recall_1 <= scores.mrr <= scores.recall_10, (ranking.name, row)
    for ranking in report.rankings[1:]:
        assert report.scores(ranking, "exact").recall_10 == 1.0
    table = report.table("recall_10", "recall@10")
    assert all(f"| {kind} |" in table for kind in bench.KINDS)
