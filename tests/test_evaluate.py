import json
import math

import pytest

from crossopt.evaluate import evaluate_files, evaluate_run, truncate

QRELS = {
    "q1": {"d1": 2, "d2": 0, "d3": 1},
    "q2": {"d5": 1},
    "q3": {"d7": 1},  # judged, but absent from the run
}
RUN = {
    "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0, "d4": 0.5},
    # eleven unjudged documents ahead of the relevant one: rank 12
    "q2": {**{f"x{i:02d}": 2.0 - i * 0.1 for i in range(11)}, "d5": 0.05},
    "q9": {"d1": 1.0},  # not judged: ignored
}


def test_hand_computed_values_at_level_1():
    result = evaluate_run(RUN, QRELS, relevance_level=1, missing_queries="skip")
    q1 = result["per_query"]["q1"]
    # relevant at level 1: d1 (rank 1), d3 (rank 3)
    assert q1["P_10"] == pytest.approx(0.2)
    assert q1["recall_10"] == pytest.approx(1.0)
    assert q1["map"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert q1["Rprec"] == pytest.approx(0.5)  # R = 2, top 2 = d1, d2
    assert q1["recip_rank_10"] == pytest.approx(1.0)
    # nDCG@10 with gains = grades: DCG = 2/log2(2) + 1/log2(4); IDCG = 2/log2(2) + 1/log2(3)
    assert q1["ndcg_cut_10"] == pytest.approx((2 + 0.5) / (2 + 1 / math.log2(3)))
    q2 = result["per_query"]["q2"]
    assert q2["recip_rank_10"] == 0.0  # rank 12 is beyond the cutoff
    assert q2["map"] == pytest.approx(1 / 12)
    assert set(result["per_query"]) == {"q1", "q2"}
    assert result["queries_missing_from_run"] == ["q3"]
    assert result["aggregate"]["P_10"] == pytest.approx((0.2 + 0.0) / 2)


def test_relevance_level_2_changes_binary_measures_not_ndcg():
    one = evaluate_run(RUN, QRELS, relevance_level=1)["per_query"]["q1"]
    two = evaluate_run(RUN, QRELS, relevance_level=2)["per_query"]["q1"]
    assert two["map"] == pytest.approx(1.0)  # only d1 counts, at rank 1
    assert two["P_10"] == pytest.approx(0.1)
    assert two["Rprec"] == pytest.approx(1.0)
    assert two["ndcg_cut_10"] == pytest.approx(one["ndcg_cut_10"])


def test_missing_queries_skip_or_zero():
    skip = evaluate_run(RUN, QRELS, missing_queries="skip")
    zero = evaluate_run(RUN, QRELS, missing_queries="zero")
    assert skip["n_queries"] == 2 and zero["n_queries"] == 3
    assert zero["per_query"]["q3"]["ndcg_cut_10"] == 0.0
    assert zero["aggregate"]["map"] == pytest.approx(skip["aggregate"]["map"] * 2 / 3)
    with pytest.raises(ValueError, match="missing_queries"):
        evaluate_run(RUN, QRELS, missing_queries="drop")


def test_candidate_recall_depths():
    result = evaluate_run(RUN, QRELS, recall_depths=(1, 100))
    assert result["per_query"]["q1"]["recall_1"] == pytest.approx(0.5)
    assert result["per_query"]["q2"]["recall_100"] == pytest.approx(1.0)


def test_truncate_uses_trec_evals_tie_order():
    # trec_eval breaks score ties by docid, descending
    assert list(truncate({"q": {"b": 1.0, "a": 1.0, "c": 0.5}}, 2)["q"]) == ["b", "a"]


def test_evaluate_files_writes_json(tmp_path):
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 3.0 s\nq1 Q0 d3 2 1.0 s\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 2\nq1 0 d3 1\n")
    out = tmp_path / "eval.json"
    evaluate_files(run, qrels, out, testset="t", system="s", relevance_level=2)
    report = json.loads(out.read_text())
    assert report["relevance_level"] == 2 and report["testset"] == "t"
    assert report["aggregate"]["map"] == pytest.approx(1.0)
    assert report["per_query"]["q1"]["ndcg_cut_10"] == pytest.approx(1.0)


def test_extra_relevance_levels_are_stored_and_selectable(tmp_path):
    from crossopt.evaluate import at_level

    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 3.0 s\nq1 Q0 d2 2 2.0 s\nq1 Q0 d3 3 1.0 s\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq1 0 d2 0\nq1 0 d3 2\n")
    report = evaluate_files(run, qrels, tmp_path / "e.json", "t", "s", relevance_level=1, extra_levels=(1, 2))
    assert list(report["other_levels"]) == ["2"]  # the primary level is not stored twice
    assert report["aggregate"]["map"] == pytest.approx((1 + 2 / 3) / 2)
    assert at_level(report, 2)["aggregate"]["map"] == pytest.approx(1 / 3)  # only d3 counts, at rank 3
    assert at_level(report, 2)["aggregate"]["ndcg_cut_10"] == report["aggregate"]["ndcg_cut_10"]
    assert at_level(report, 1) is report and at_level(report, None) is report


def test_ties_at_the_cutoff_follow_trec_eval():
    """12 documents with one score: trec_eval ranks them by docid descending, so d00
    (the relevant one) is 12th and MRR@10 is 0, as `trec_eval -M 10 -m recip_rank` says."""
    run = {"q": {f"d{i:02d}": 1.0 for i in range(12)}}
    result = evaluate_run(run, {"q": {"d00": 1}})
    assert result["per_query"]["q"]["recip_rank_10"] == 0.0
    assert result["per_query"]["q"]["map"] == pytest.approx(1 / 12)


def test_scores_that_collide_in_float32_keep_trec_evals_double_order():
    """The run writer's tie offsets vanish in float32; the evaluation must still rank
    'a' (score 1.0) above 'b' (the next double below 1.0), as trec_eval does."""
    run = {"q": {"a": 1.0, "b": math.nextafter(1.0, -math.inf)}}
    result = evaluate_run(run, {"q": {"a": 1, "b": 0}})
    assert result["per_query"]["q"]["recip_rank_10"] == 1.0
    assert result["per_query"]["q"]["ndcg_cut_10"] == pytest.approx(1.0)
    # and BM25-sized scores 16.000001 > 16.0 differ in double but not in float32
    big = {"q": {"a": 16.000001, "b": 16.0}}
    assert evaluate_run(big, {"q": {"a": 1}})["per_query"]["q"]["P_10"] == pytest.approx(0.1)
    assert evaluate_run(big, {"q": {"a": 1}})["per_query"]["q"]["recip_rank_10"] == 1.0


def test_report_records_the_trec_eval_command_lines(tmp_path):
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 3.0 s\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 2\nq2 0 d2 1\n")
    report = evaluate_files(run, qrels, tmp_path / "e.json", "t", "s", relevance_level=2,
                            missing_queries="zero", recall_depths=(100,), extra_levels=(1,))
    commands = report["trec_eval"]
    assert commands["recip_rank_10"] == f"trec_eval -c -l 2 -M 10 -m recip_rank {qrels} {run}"
    assert commands["recall_100"] == f"trec_eval -c -l 2 -m recall.100 {qrels} {run}"
    assert report["other_levels"]["1"]["trec_eval"]["map"] == f"trec_eval -c -l 1 -m map {qrels} {run}"
    assert report["n_queries"] == 2 and report["n_queries_missing_from_run"] == 1
    skip = evaluate_files(run, qrels, tmp_path / "s.json", "t", "s", missing_queries="skip")
    assert skip["trec_eval"]["map"] == f"trec_eval -l 1 -m map {qrels} {run}" and skip["n_queries"] == 1


def test_skipped_queries_are_counted_in_a_warning(tmp_path, caplog):
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 3.0 s\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 1\n")
    with caplog.at_level("WARNING"):
        evaluate_files(run, qrels, tmp_path / "e.json", "t", "s", missing_queries="skip")
    assert "2 of 3 judged queries" in caplog.text and "left out of the averages" in caplog.text
