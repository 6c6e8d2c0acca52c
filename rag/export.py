"""Answers exported: their cited papers as BibTeX, whole answers and conversations as Markdown."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rag.load import arxiv_id

if TYPE_CHECKING:
    from rag.answer import Answer, Citation

# Characters LaTeX treats specially, in the text-mode form that prints them.
SPECIAL = {
    "\\": r"\textbackslash{}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
# BibTeX counts `\{` as a brace: escaped braces are only safe where they pair up.
BRACES = {"{": r"\{", "}": r"\}"}
LONE_BRACES = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
# Letters without a decomposition into a base letter and accents.
LETTERS = {
    "ß": r"{\ss}",
    "ø": r"{\o}",
    "Ø": r"{\O}",
    "æ": r"{\ae}",
    "Æ": r"{\AE}",
    "œ": r"{\oe}",
    "Œ": r"{\OE}",
    "ł": r"{\l}",
    "Ł": r"{\L}",
    "\u0131": r"{\i}",  # dotless i
}
# Combining marks (what NFD splits off a letter) and the LaTeX accent command for each.
ACCENTS = {
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0304": "=",
    "\u0306": "u",
    "\u0307": ".",
    "\u0308": '"',
    "\u030a": "r",
    "\u030b": "H",
    "\u030c": "v",
    "\u0323": "d",
    "\u0327": "c",
    "\u0328": "k",
}
# Key folding: letters that NFKD leaves as they are, spelt in ASCII.
FOLDED = str.maketrans(
    {"ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "\u0131": "i", "đ": "d"}
)
NOT_KEY = re.compile(r"[^a-z0-9]")
NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}
TITLE_STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "by", "can", "do", "does", "for", "from", "how", "in",
    "is", "it", "of", "on", "one", "the", "to", "toward", "towards", "via", "what", "when",
    "where", "which", "why", "with",
}  # fmt: skip
AND = re.compile(r"\band\b", re.IGNORECASE)
MAX_AUTHORS = 5  # Markdown lists this many authors, then "et al."
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~#|])")


def bibtex(citations: Iterable[Citation]) -> str:
    """One `@misc` entry per distinct cited paper (by paper id, in first-cited order)."""
    papers: dict[str, Citation] = {}
    for citation in citations:
        papers.setdefault(citation.paper_id, citation)
    keys = entry_keys(list(papers.values()))
    return "\n".join(entry(c, keys[c.paper_id]) for c in papers.values())


def bibtex_of_answers(answers: list[Answer]) -> str:
    """BibTeX of every paper any of the answers cites, each once."""
    return bibtex(c for answer in answers for c in answer.citations)


def entry(citation: Citation, key: str) -> str:
    """The `@misc` entry of one paper; fields with no value are left out."""
    eprint = paper_arxiv_id(citation)
    url = citation.url or (f"https://arxiv.org/abs/{eprint}" if eprint else "")
    fields = {
        "title": latex_title(citation.title),
        "author": " and ".join(latex_name(a) for a in citation.authors if a.strip()),
        "year": year(citation),
        "eprint": eprint,
        "archivePrefix": "arXiv" if eprint else "",
        "url": re.sub(r"[\s{}\\]", lambda m: f"%{ord(m.group()):02X}", url),
    }
    lines = [f"  {name} = {{{value}}}," for name, value in fields.items() if value]
    return "\n".join([f"@misc{{{key},", *lines, "}", ""])


def entry_keys(papers: list[Citation]) -> dict[str, str]:
    """Each paper's key: its `base_key` where no other paper here shares it, else that key
    with the paper's own suffix; the same whatever the papers' order."""
    base = {c.paper_id: base_key(c) for c in papers}
    shared = Counter(base.values())
    keys = {
        c.paper_id: base[c.paper_id] + (key_suffix(c) if shared[base[c.paper_id]] > 1 else "")
        for c in papers
    }
    clashes = Counter(keys.values())  # a suffixed key that is another paper's base key
    return {pid: key if clashes[key] == 1 else base[pid] + sha1(pid) for pid, key in keys.items()}


def base_key(citation: Citation) -> str:
    """First author's last name, year and first significant title word, e.g. muller2024scaling."""
    name = fold(last_name(citation.authors[0])) if citation.authors else ""
    words = (fold(w) for w in citation.title.split())
    word = next((w for w in words if w and w not in TITLE_STOPWORDS), "")
    return (name or "anon") + year(citation) + word


def key_suffix(citation: Citation) -> str:
    """What tells a paper's key from a clashing one: its arXiv id, else a short hash of its id."""
    return fold(paper_arxiv_id(citation)) or sha1(citation.paper_id)[:8]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def last_name(name: str) -> str:
    """The last name of "First Last" or "Last, First", suffixes like "Jr." passed over."""
    if "," in name:
        return name.split(",")[0]
    parts = [p for p in name.split() if p.rstrip(".").lower() not in NAME_SUFFIXES]
    return parts[-1] if parts else ""


def fold(text: str) -> str:
    """Text as key characters: ASCII-folded, lowercase, [a-z0-9] only."""
    text = unicodedata.normalize("NFKD", text.lower().translate(FOLDED))
    return NOT_KEY.sub("", text)


def paper_arxiv_id(citation: Citation) -> str:
    return arxiv_id(citation.paper_id) or arxiv_id(citation.url)


def year(citation: Citation) -> str:
    return citation.date[:4] if citation.date[:4].isdigit() else ""


def latex(text: str, balanced: bool) -> str:
    """Text as LaTeX: special characters escaped, accented Latin letters as braced accent
    commands, anything else (CJK, say) as it is. `balanced`: whether the braces in the whole
    field pair up, so that `\\{` and `\\}` may stand for them."""
    braces = BRACES if balanced else LONE_BRACES
    return "".join(
        SPECIAL.get(c) or braces.get(c) or LETTERS.get(c) or accented(c)
        for c in unicodedata.normalize("NFC", text)
    )


def accented(char: str) -> str:
    """A Latin letter with one accent as its accent command ("é" is {\\'e}); else itself.
    A letter with two accents (Vietnamese "ễ") stays UTF-8: biber cannot decode nested
    accent commands, and reads UTF-8 as it is."""
    base, *marks = unicodedata.normalize("NFD", char)
    if len(marks) != 1 or not (base.isascii() and base.isalpha()) or marks[0] not in ACCENTS:
        return char
    command = ACCENTS[marks[0]]
    return f"{{\\{command}{' ' if command.isalpha() else ''}{base}}}"


def balanced(text: str) -> bool:
    """Whether every brace in `text` closes one opened before it, and all are closed."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def latex_title(title: str) -> str:
    """A title as LaTeX, words with an inner capital or a digit (LLM, GPT-4) braced so that
    bibliography styles keep their case."""
    pairs = balanced(title)
    return " ".join(
        f"{{{latex(w, pairs)}}}" if keeps_case(w) else latex(w, pairs) for w in title.split()
    )


def keeps_case(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and (
        any(c.isdigit() for c in word) or any(c.isupper() for c in letters[1:])
    )


def latex_name(name: str) -> str:
    """An author's name as LaTeX; braced whole when it holds an "and" BibTeX would split at."""
    name = " ".join(name.split())
    text = latex(name, balanced(name))
    return f"{{{text}}}" if AND.search(name) else text


def answer_markdown(answer: Answer) -> str:
    """One answer as Markdown: the question as a heading, the answer and its references."""
    return "\n".join(turn(answer, "#")).rstrip() + "\n"


def conversation_markdown(answers: list[Answer]) -> str:
    """A conversation as Markdown: each question, answer and references, in order."""
    lines = ["# PaperChat conversation", ""]
    if not answers:
        return "\n".join([*lines, "No questions asked yet.", ""])
    for answer in answers:
        lines += turn(answer, "##")
    return "\n".join(lines).rstrip() + "\n"


def turn(answer: Answer, heading: str) -> list[str]:
    """The lines of one question and answer under a heading of the given level."""
    lines = [f"{heading} {md(' '.join(answer.question.split()))}", "", answer.text.strip(), ""]
    if answer.citations:
        lines += [f"{heading}# References", ""]
        for citation in answer.citations:
            lines += reference(citation)
    return lines


def reference(citation: Citation) -> list[str]:
    """`[n] Title — Authors (year). arXiv:id, link`, the quote, and what the listing says."""
    authors = [md(a) for a in citation.authors[:MAX_AUTHORS]]
    if len(citation.authors) > MAX_AUTHORS:
        authors.append("et al.")
    eprint = paper_arxiv_id(citation)
    url = citation.url or (f"https://arxiv.org/abs/{eprint}" if eprint else "")
    head = f"[{citation.number}] **{md(citation.title or citation.paper_id)}**"
    if authors:
        head += f" — {', '.join(authors)}"
    if year(citation):
        head += f" ({year(citation)})"
    where = [f"arXiv:{eprint}" if eprint else "", f"<{url}>" if url else ""]
    if any(where):
        head += ". " + ", ".join(w for w in where if w)
    lines = [head, ""]
    if citation.quote:
        lines += [f"> {md(' '.join(citation.quote.split()))}", ""]
    listing = citation.listing
    extras = [
        f"{listing.upvotes} upvote{'s' * (listing.upvotes != 1)}"
        if listing.upvotes is not None
        else "",
        f"GitHub: <{listing.github}>" if listing.github else "",
        f"Project page: <{listing.project_page}>" if listing.project_page else "",
        f"Keywords: {', '.join(md(k) for k in listing.keywords)}" if listing.keywords else "",
    ]
    if any(extras):
        lines += [" · ".join(e for e in extras if e), ""]
    return lines


def md(text: str) -> str:
    """Paper text with the characters Markdown would act on escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)
