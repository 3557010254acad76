import math

import pytest

from crossopt.trec import (
    TrecFormatError,
    check_run_file,
    format_run,
    read_qrels,
    read_run,
    read_topics,
    strictly_decreasing,
    write_run,
)

RUN = """q1 Q0 d1 1 3.5 sys
q1 Q0 d2 2 1.25 sys
q2 Q0 d3 1 -0.5 sys
"""


def test_read_run_inline():
    entries = read_run(RUN)
    assert [(e.qid, e.docid, e.rank, e.score) for e in entries] == [
        ("q1", "d1", 1, 3.5), ("q1", "d2", 2, 1.25), ("q2", "d3", 1, -0.5)
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        ("q1 Q0 d1 1 3.5", "expected 6 fields"),
        ("q1 Q0 d1 one 3.5 sys", "rank 'one' is not an integer"),
        ("q1 Q0 d1 1 high sys", "score 'high' is not a number"),
        ("q1 Q0 d1 1 nan sys", "not finite"),
    ],
)
def test_malformed_run_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.trec"
    path.write_text("q0 Q0 d0 1 9.0 sys\n" + line + "\n")
    with pytest.raises(TrecFormatError) as error:
        read_run(path)
    assert f"{path}, line 2" in str(error.value)
    assert message in str(error.value)


def test_duplicate_document_in_run_is_an_error():
    with pytest.raises(TrecFormatError, match="line 2: document 'd1' appears twice"):
        read_run("q1 Q0 d1 1 2 s\nq1 Q0 d1 2 1 s\n")


def test_qrels_accepts_q0_and_zero_iteration_and_rejects_bad_grade():
    qrels = read_qrels("q1 0 d1 2\nq1 Q0 d2 0\n")
    assert [(q.qid, q.docid, q.grade) for q in qrels] == [("q1", "d1", 2), ("q1", "d2", 0)]
    with pytest.raises(TrecFormatError, match=r"<inline>, line 2: grade 'x' is not an integer"):
        read_qrels("q1 0 d1 2\nq1 0 d2 x\n")


def test_topics_tsv():
    assert read_topics("1\twhat is bm25\n2\tlion optimizer\n") == {"1": "what is bm25", "2": "lion optimizer"}
    with pytest.raises(TrecFormatError, match="line 1: expected 'qid<TAB>text'"):
        read_topics("no tab here\n")
    with pytest.raises(TrecFormatError, match="line 2: query id '1' appears twice"):
        read_topics("1\ta\n1\tb\n")


def test_run_writer_breaks_ties_by_docid_with_strictly_decreasing_scores():
    text = format_run({"q1": {"b": 1.0, "a": 1.0, "c": 2.0}}, tag="t")
    entries = read_run(text)
    assert [e.docid for e in entries] == ["c", "a", "b"]
    assert [e.rank for e in entries] == [1, 2, 3]
    scores = [e.score for e in entries]
    assert all(x > y for x, y in zip(scores, scores[1:]))
    # ties are resolved by the smallest possible step
    assert scores[2] == math.nextafter(1.0, -math.inf)


def test_strictly_decreasing_handles_runs_of_ties():
    scores = strictly_decreasing([5.0, 5.0, 5.0, 4.0])
    assert scores[0] == 5.0 and scores[0] > scores[1] > scores[2] > scores[3] == 4.0


def test_write_run_round_trips_and_depth(tmp_path):
    path = tmp_path / "run.trec"
    write_run(path, {"q2": {"x": 0.1}, "q1": {"a": 0.3, "b": 0.2, "c": 0.1}}, tag="sys", depth=2)
    entries = read_run(path)
    assert [(e.qid, e.docid) for e in entries] == [("q1", "a"), ("q1", "b"), ("q2", "x")]
    assert not list(tmp_path.glob(".*tmp"))


def test_check_run_file_rejects_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="was not written"):
        check_run_file(tmp_path / "none.trec")
    empty = tmp_path / "empty.trec"
    empty.write_text("")
    with pytest.raises(TrecFormatError, match="is empty"):
        check_run_file(empty)
    good = tmp_path / "good.trec"
    good.write_text(RUN)
    assert check_run_file(good) == 3


def test_run_tag_must_be_one_word():
    with pytest.raises(ValueError, match="tag"):
        format_run({"q": {"d": 1.0}}, tag="two words")
