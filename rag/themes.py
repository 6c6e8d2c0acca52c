"""Themes of a collection: its papers grouped by their embeddings (Ward's agglomerative
clustering, scikit-learn), the number of themes chosen by the silhouette, each theme named by
its papers' most distinctive terms (class-based TF-IDF, as BERTopic does)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.catalog import CatalogPaper
from rag.load import Paper

MAX_THEMES = 10  # a day of Daily Papers reads as a handful of themes, never dozens
MIN_THEME_PAPERS = 3  # at least this many papers a theme, on average
NAME_TERMS = 3
# Words that name no research theme however often a theme's abstracts use them.
GENERIC = frozenset(
    [
        "approach",
        "approaches",
        "based",
        "benchmark",
        "benchmarks",
        "data",
        "dataset",
        "datasets",
        "demonstrate",
        "existing",
        "experiments",
        "framework",
        "frameworks",
        "introduce",
        "large",
        "learning",
        "method",
        "methods",
        "model",
        "models",
        "new",
        "novel",
        "paper",
        "performance",
        "problem",
        "propose",
        "proposed",
        "results",
        "setting",
        "settings",
        "show",
        "shows",
        "state",
        "art",
        "task",
        "tasks",
        "training",
        "use",
        "used",
        "using",
        "work",
    ]
)
PLURAL = re.compile(r"[^siu]s$")
TERM = re.compile(r"(?u)\b[a-zA-Z][a-zA-Z0-9-]+\b")


@dataclass
class Theme:
    """A group of papers on one subject: its name, its distinctive terms, its papers (the most
    typical first)."""

    name: str
    terms: list[str]
    papers: list[Paper]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "terms": self.terms,
            "papers": [
                {"paper_id": p.paper_id, "title": p.title, "url": p.url, "date": p.date}
                for p in self.papers
            ],
        }


def theme_count_range(papers: int) -> range:
    return range(2, min(MAX_THEMES, papers // MIN_THEME_PAPERS) + 1)


def cluster(vectors: np.ndarray) -> np.ndarray:
    """A theme label per row: Ward's clustering at the count whose silhouette is highest."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    counts = theme_count_range(len(vectors))
    if not counts:
        return np.zeros(len(vectors), int)
    best: tuple[float, np.ndarray] | None = None
    for count in counts:
        labels = AgglomerativeClustering(n_clusters=count, linkage="ward").fit_predict(vectors)
        score = float(silhouette_score(vectors, labels, metric="cosine"))
        if best is None or score > best[0]:
            best = (score, labels)
    return best[1]


def singular(term: str) -> str:
    """ "policies" as "policy", "rewards" as "reward" (not "loss" or "analysis")."""
    words = [
        f"{w[:-3]}y" if w.endswith("ies") else w[:-1] if PLURAL.search(w) else w
        for w in term.split()
    ]
    return " ".join(words)


def theme_terms(documents: list[str], labels: np.ndarray, count: int) -> list[list[str]]:
    """Each theme's `count` most distinctive terms and word pairs by class-based TF-IDF: a
    term's share of the theme's words, times the share of the theme's papers that use it (so
    one paper's coined name does not name a theme), times log(1 + the average number of papers
    a theme has / how many papers use it at all). A term that repeats a chosen one is skipped."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        ngram_range=(1, 2),
        stop_words=sorted(GENERIC | set(CountVectorizer(stop_words="english").get_stop_words())),
        token_pattern=TERM.pattern,
    )
    themes = sorted(set(labels.tolist()))
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(float)
    except ValueError:  # no word left (titles of stop words only)
        return [[] for _ in themes]
    vocabulary = vectorizer.get_feature_names_out()
    used = counts > 0
    share = np.stack([used[labels == t].mean(axis=0) for t in themes])
    frequency = np.stack([counts[labels == t].sum(axis=0) for t in themes])
    frequency /= np.maximum(frequency.sum(axis=1, keepdims=True), 1.0)
    average_papers = len(documents) / len(themes)
    weights = frequency * share * np.log(1 + average_papers / np.maximum(used.sum(axis=0), 1))
    named = []
    for row in weights:
        terms: list[str] = []
        for index in np.argsort(-row, kind="stable"):
            if row[index] <= 0 or len(terms) == count:
                break
            term = singular(str(vocabulary[index]))
            if any(set(term.split()) & set(chosen.split()) for chosen in terms):
                continue
            terms.append(term)
        named.append(terms)
    return named


def find_themes(papers: list[CatalogPaper]) -> list[Theme]:
    """The papers' themes, the largest first; each paper in exactly one."""
    if not papers:
        return []
    vectors = np.stack([p.vector for p in papers])
    labels = cluster(vectors)
    documents = [f"{p.paper.title}. {p.paper.abstract}" for p in papers]
    terms = theme_terms(documents, labels, NAME_TERMS)
    themes = []
    for label, theme_words in zip(sorted(set(labels.tolist())), terms, strict=True):
        members = [i for i, own in enumerate(labels) if own == label]
        centre = vectors[members].mean(axis=0)
        members.sort(key=lambda i: -float(vectors[i] @ centre))
        name = ", ".join(theme_words) or "other"
        themes.append(
            Theme(name[:1].upper() + name[1:], theme_words, [papers[i].paper for i in members])
        )
    themes.sort(key=lambda t: -len(t.papers))
    return themes
