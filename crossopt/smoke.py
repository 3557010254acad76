"""A deterministic toy collection for running the whole study offline in minutes.

The toy world has *concepts* (each written with one of several synonyms) and
*aspects* (also with synonyms). A query asks about one aspect of one concept,
always with the first synonym of each. Passages mention a concept and an aspect
with any synonym, so BM25 misses relevant passages that use other synonyms and
is drawn to distractors that repeat the query's aspect word for another concept.
A cross-encoder trained on the triplets can learn the synonyms and so has
something to improve on. Grades follow the TREC DL scale:

    3  the query's concept and aspect
    2  the query's concept, another aspect
    1  the paired ("related") concept with the query's aspect
    0  another concept with the query's aspect (judged distractor)

The files use the real schemas: training triplets as the Hugging Face
`sentence-transformers/msmarco` subsets (corpus, queries, triplets, by id) and
test sets as BEIR folders, so the smoke run goes through the same loading code
as the real study.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .atomic import atomic_write_parquet, atomic_write_text

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "kl", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_SYNONYMS_PER_CONCEPT = 3
_SYNONYMS_PER_ASPECT = 2
_ASPECTS = 12
_FILLERS = 150


@dataclass(frozen=True)
class World:
    concepts: list[list[str]]  # concept -> synonyms
    aspects: list[list[str]]  # aspect -> synonyms
    fillers: list[str]

    def related(self, concept: int) -> int:
        """Concepts come in pairs (0,1), (2,3), ...; the partner is 'related'."""
        return concept ^ 1


def _words(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    words = []
    while len(words) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice([2, 3])))
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


def make_world(seed: int, concepts: int) -> World:
    """Draw the vocabulary of the toy world; `concepts` is rounded up to an even number."""
    rng = random.Random(seed)
    concepts += concepts % 2
    taken: set[str] = set()
    concept_words = [_words(rng, _SYNONYMS_PER_CONCEPT, taken) for _ in range(concepts)]
    aspect_words = [_words(rng, _SYNONYMS_PER_ASPECT, taken) for _ in range(_ASPECTS)]
    fillers = _words(rng, _FILLERS, taken)
    return World(concept_words, aspect_words, fillers)


def query_text(world: World, concept: int, aspect: int) -> str:
    return f"{world.aspects[aspect][0]} of {world.concepts[concept][0]}"


def passage_text(world: World, rng: random.Random, concept: int, aspect: int, repeat_aspect: bool = False) -> str:
    """A passage about (concept, aspect) using random synonyms amid filler words.

    `repeat_aspect` writes the aspect's query word twice: a keyword-stuffed
    distractor that a lexical ranker likes.
    """
    words = rng.sample(world.fillers, rng.randint(8, 14))
    words.insert(rng.randrange(len(words) + 1), rng.choice(world.concepts[concept]))
    aspect_word = world.aspects[aspect][0] if repeat_aspect else rng.choice(world.aspects[aspect])
    for _ in range(2 if repeat_aspect else 1):
        words.insert(rng.randrange(len(words) + 1), aspect_word)
    return " ".join(words)


def _other(rng: random.Random, count: int, *excluded: int) -> int:
    while True:
        value = rng.randrange(count)
        if value not in excluded:
            return value


def make_training_tables(world: World, seed: int, n_queries: int) -> dict[str, pd.DataFrame]:
    """Training triplets in the schema of the HF msmarco subsets: corpus, queries, triplets."""
    rng = random.Random(seed * 1000 + 1)
    corpus, queries, triplets = [], [], []
    n_concepts, n_aspects = len(world.concepts), len(world.aspects)
    for query_id in range(n_queries):
        concept, aspect = rng.randrange(n_concepts), rng.randrange(n_aspects)
        queries.append((str(query_id), query_text(world, concept, aspect)))
        positive = passage_text(world, rng, concept, aspect)
        if rng.random() < 0.7:  # hard negative: the query's aspect word, another concept
            negative = passage_text(world, rng, _other(rng, n_concepts, concept, world.related(concept)), aspect, True)
        else:
            negative = passage_text(world, rng, _other(rng, n_concepts, concept), _other(rng, n_aspects, aspect))
        # Ids are strings, as in the hub dataset.
        positive_id, negative_id = str(len(corpus)), str(len(corpus) + 1)
        corpus += [(positive_id, positive), (negative_id, negative)]
        triplets.append((str(query_id), positive_id, negative_id))
    return {
        "corpus": pd.DataFrame(corpus, columns=["passage_id", "passage"]),
        "queries": pd.DataFrame(queries, columns=["query_id", "query"]),
        "triplets": pd.DataFrame(triplets, columns=["query_id", "positive_id", "negative_id"]),
    }


def make_testset(world: World, seed: int, n_queries: int, distractors: int, background: int, graded: bool):
    """One BEIR-style test set: (corpus records, {qid: text}, [(qid, docid, grade)])."""
    rng = random.Random(seed)
    n_pairs = len(world.concepts) // 2
    if n_queries > n_pairs - 1:
        raise ValueError(
            f"smoke test set needs concepts >= 2 * (test_queries + 1); got {len(world.concepts)} concepts "
            f"for {n_queries} queries"
        )
    groups = rng.sample(range(n_pairs), n_pairs)
    query_groups, free_groups = groups[:n_queries], groups[n_queries:]
    corpus, topics, qrels = [], {}, []

    def add(text: str) -> str:
        docid = f"d{len(corpus):05d}"
        corpus.append({"_id": docid, "title": "", "text": text})
        return docid

    n_aspects = len(world.aspects)
    for number, group in enumerate(query_groups):
        concept = 2 * group + rng.randrange(2)
        aspect = rng.randrange(n_aspects)
        qid = f"q{number:03d}"
        topics[qid] = query_text(world, concept, aspect)
        plan = [(3, concept, aspect, False)] * 2
        plan += [(2, concept, _other(rng, n_aspects, aspect), False)] * 2
        plan += [(1, world.related(concept), aspect, False)] * 2
        for _ in range(distractors):
            other_group = rng.choice(free_groups)
            plan.append((0, 2 * other_group + rng.randrange(2), aspect, True))
        for grade, c, a, stuffed in plan:
            label = grade if graded else int(grade == 3)
            qrels.append((qid, add(passage_text(world, rng, c, a, stuffed)), label))
    for _ in range(background):
        group = rng.choice(free_groups)
        add(passage_text(world, rng, 2 * group + rng.randrange(2), rng.randrange(n_aspects)))
    return corpus, topics, qrels


def write_beir_folder(folder: str | Path, corpus, topics, qrels, split: str = "test") -> None:
    """Write corpus.jsonl, queries.jsonl and qrels/<split>.tsv as BEIR does."""
    folder = Path(folder)
    atomic_write_text(folder / "corpus.jsonl", "".join(json.dumps(doc) + "\n" for doc in corpus))
    atomic_write_text(
        folder / "queries.jsonl",
        "".join(json.dumps({"_id": qid, "text": text}) + "\n" for qid, text in sorted(topics.items())),
    )
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, d, g in qrels]
    atomic_write_text(folder / "qrels" / f"{split}.tsv", "\n".join(lines) + "\n")


def generate(settings: dict, train_dir: str | Path, testsets: dict[str, tuple[str | Path, bool]]) -> None:
    """Generate the whole toy collection from the `smoke` config section.

    `testsets` maps a test set key to (BEIR folder, graded): graded test sets get
    0-3 labels (as TREC DL), the others binary labels (as MS MARCO dev).
    """
    world = make_world(settings["seed"], settings["concepts"])
    for name, frame in make_training_tables(world, settings["seed"], settings["train_queries"]).items():
        atomic_write_parquet(frame, Path(train_dir) / f"{name}.parquet")
    for name, (folder, graded) in sorted(testsets.items()):
        corpus, topics, qrels = make_testset(
            world,
            # Seeded by name so adding a test set leaves the others unchanged.
            seed=settings["seed"] * 100_000 + zlib.crc32(name.encode()) % 100_000,
            n_queries=settings["test_queries"],
            distractors=settings["distractors"],
            background=settings["background"],
            graded=graded,
        )
        write_beir_folder(folder, corpus, topics, qrels)
