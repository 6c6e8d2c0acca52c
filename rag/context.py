"""The context an answer rests on: numbered sources, one per paper, within a token budget:
whole abstracts, or of each only the sentences that bear on the question."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import tiktoken

from rag.search import Hit
from rag.split import ENCODING
from rag.store import StoredSentence


@dataclass
class Source:
    """A retrieved paper as the answer sees it: `[number]`, its hit and its sentences."""

    number: int
    hit: Hit
    sentences: list[StoredSentence]

    @property
    def abstract(self) -> str:
        return " ".join(s.text for s in self.sentences) or self.hit.text


def number_sources(hits: list[Hit], sentences: dict[str, list[StoredSentence]]) -> list[Source]:
    return [Source(i, hit, sentences.get(hit.paper_id, [])) for i, hit in enumerate(hits, 1)]


def render_context(
    sources: list[Source],
    budget_tokens: int,
    excerpts: dict[int, list[StoredSentence]] | None = None,
) -> tuple[str, list[Source]]:
    """Sources as tagged blocks that fit `budget_tokens`, and the sources that made it in.

    A source is given by its excerpt (the sentences that bear on the question, by source
    number) when `excerpts` has one, else by its abstract. One that does not fit is given by
    its best chunk; one that does not fit even so is left out, with every source after it.
    """
    encoding = tiktoken.get_encoding(ENCODING)
    blocks: list[str] = []
    used: list[Source] = []
    spent = 0
    for source in sources:
        excerpt = (excerpts or {}).get(source.number)
        whole = " ".join(s.text for s in excerpt) if excerpt else source.abstract
        for body in (whole, source.hit.text):
            block = (
                f'<source id="{source.number}" title="{escape(source.hit.title)}">\n'
                f"{escape(body, quote=False)}\n</source>"
            )
            cost = len(encoding.encode(block))
            if spent + cost <= budget_tokens:
                break
        else:
            break
        blocks.append(block)
        used.append(source)
        spent += cost
    return "\n\n".join(blocks), used
