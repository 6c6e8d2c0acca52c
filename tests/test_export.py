"""Answers exported as BibTeX (checked by parsing it back with bibtexparser) and Markdown."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata

import bibtexparser
import pytest
from bibtexparser.middlewares import LatexDecodingMiddleware

from rag.answer import Answer, Citation
from rag.export import answer_markdown, bibtex, bibtex_of_answers, conversation_markdown
from rag.load import Listing

HARD_AUTHORS = [
    "José Müller-Łukasz",
    "Søren Ærø",
    "Zoë Ångström",
    "Çağrı Öztürk",  # noqa: RUF001 (dotless i)
    "王小明",
    "Nguyễn Văn Đức",
    "Ólafur Grímsson",
    "Œdipe Straße",
]
HARD_TITLES = [
    "Costs of $O(n)$ Attention & 50% Fewer {GPT-4} Tokens: snake_case #1 for LLMs",
    "Über Größe, Ærø & Søren's {Set {of}} Zoë ~ Çağrı: A \\ B",  # noqa: RUF001
    "大型语言模型的对齐 with RLHF and BERT",
]


def citation(number: int, paper_id: str, title: str, **extra) -> Citation:
    extra.setdefault("quote", f"The supporting sentence of paper {number}.")
    return Citation(number, paper_id, title, extra.pop("url", ""), score=0.5, **extra)


def answer(question: str, citations: list[Citation]) -> Answer:
    text = "*Notice.*\n\n" + " ".join(f"Claim {c.number} [{c.number}]." for c in citations)
    return Answer(question, text, citations, abstained=False, answerer="extractive", timings={})


def parse(text: str, decode: bool = True) -> dict[str, dict[str, str]]:
    """The entries of a BibTeX string, LaTeX decoded, by key; fails on any failed block."""
    middleware = [LatexDecodingMiddleware()] if decode else []
    library = bibtexparser.parse_string(text, append_middleware=middleware)
    assert not library.failed_blocks
    assert all(entry.entry_type == "misc" for entry in library.entries)
    entries = {entry.key: {f.key: f.value for f in entry.fields} for entry in library.entries}
    assert len(entries) == len(library.entries)
    return entries


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def braces_balance(text: str) -> bool:
    """BibTeX's view: every brace counts, escaped or not."""
    depth = 0
    for char in re.sub(r"[^{}]", "", text):
        depth += 1 if char == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def test_special_characters_survive_a_bibtexparser_round_trip():
    papers = [
        citation(i, f"2401.0000{i}", title, authors=HARD_AUTHORS[i - 1 :], date="2024-01-02")
        for i, title in enumerate(HARD_TITLES, 1)
    ]
    text = bibtex(papers)
    for block in text.strip().split("\n\n"):
        assert braces_balance(block)
    entries = parse(text)
    assert len(entries) == 3
    for paper, (key, fields) in zip(papers, entries.items(), strict=True):
        assert re.fullmatch(r"[a-z][a-z0-9]*", key)
        assert set(fields) == {"title", "author", "year", "eprint", "archivePrefix", "url"}
        assert nfc(fields["title"]) == paper.title
        assert [nfc(a) for a in fields["author"].split(" and ")] == paper.authors
        assert fields["year"] == "2024"
        assert fields["eprint"] == paper.paper_id
        assert fields["archivePrefix"] == "arXiv"
        assert fields["url"] == f"https://arxiv.org/abs/{paper.paper_id}"


def test_latex_forms():
    title = "Ça ^ é ő ñ å č ß ø ı ł æ œ {GPT-4} 大"  # noqa: RUF001
    text = bibtex([citation(1, "2401.00001", title, authors=HARD_AUTHORS)])
    for latex in [
        r"{\c C}a",
        r"\textasciicircum{}",
        r"{\'e}",
        r"{\H o}",
        r"{\~n}",
        r"{\r a}",
        r"{\v c}",
        r"{\ss}",
        r"{\o}",
        r"{\i}",
        r"{\l}",
        r"{\ae}",
        r"{\oe}",
        r"{\{GPT-4\}}",
        "大",
        r"Jos{\'e} M{\"u}ller-{\L}ukasz",
        r"S{\o}ren {\AE}r{\o}",
        r"{\OE}dipe Stra{\ss}e",
        "王小明",
    ]:
        assert latex in text
    assert not re.search(r"[éőñåčßøıłæœÇ]", text)


def test_unbalanced_braces_are_spelt_out():
    papers = [citation(1, "2401.00001", "A Lone } Then { Open"), citation(2, "2", "Open { Only")]
    text = bibtex(papers)
    assert r"A Lone \textbraceright{} Then \textbraceleft{} Open" in text
    assert r"Open \textbraceleft{} Only" in text
    assert braces_balance(text)
    assert len(parse(text)) == 2


def test_acronyms_keep_their_case():
    text = bibtex([citation(1, "2401.00001", "Scaling LLM Alignment with RLHF, BERT and GPT-4")])
    assert "title = {Scaling {LLM} Alignment with {RLHF,} {BERT} and {GPT-4}}" in text


def test_name_with_and_stays_one_author():
    text = bibtex([citation(1, "2401.00001", "T", authors=["Research and Development", "Ann Lee"])])
    assert "author = {{Research and Development} and Ann Lee}" in text


def test_keys_are_stable_and_ascii():
    muller = citation(
        1, "2401.00001", "On the Scaling of Models", authors=["Jana Müller"], date="2024-05-01"
    )
    other = citation(2, "2402.00002", "Other Work", authors=["Ann Lee"], date="2023-01-01")
    third = citation(3, "hep-th/9901001", "Strings", authors=["Ed Witten"], date="1999-01-01")
    alone = next(iter(parse(bibtex([muller]))))
    assert alone == "muller2024scaling"
    assert "muller2024scaling" in parse(bibtex([other, muller, third]))
    assert list(parse(bibtex([third]))) == ["witten1999strings"]


def test_clashing_keys_are_told_apart_whatever_the_order():
    first = citation(1, "2401.00001", "Scaling Laws", authors=["Jana Müller"], date="2024-01-01")
    second = citation(2, "2401.00002", "Scaling Up", authors=["Jan Muller"], date="2024-02-01")
    hashed = citation(3, "0123456789ab", "Scaling Again", authors=["J. Müller"], date="2024-03-01")
    lone = citation(4, "2402.00003", "Unrelated", authors=["Ann Lee"], date="2024-01-01")

    def keys(papers: list[Citation]) -> dict[str, str]:
        parsed = parse(bibtex(papers))
        return {fields["title"]: key for key, fields in parsed.items()}

    forward = keys([first, second, hashed, lone])
    assert forward == keys([lone, hashed, second, first])
    assert len(set(forward.values())) == 4
    assert forward["Scaling Laws"] == "muller2024scaling240100001"
    assert forward["Scaling Up"] == "muller2024scaling240100002"
    assert re.fullmatch(r"muller2024scaling[0-9a-f]{8}", forward["Scaling Again"])
    assert forward["Unrelated"] == "lee2024unrelated"
    assert set(keys([second, first]).values()) == {
        "muller2024scaling240100001",
        "muller2024scaling240100002",
    }
    # A paper whose own key is another's disambiguated key: all still distinct.
    lookalike = citation(
        5, "2403.00004", "Scaling240100001 Laws", authors=["Jana Müller"], date="2024-04-01"
    )
    assert len(set(keys([first, second, lookalike]).values())) == 3


def test_duplicates_are_one_entry():
    paper = citation(1, "2401.00001", "Scaling Laws", authors=["Ann Lee"])
    again = citation(3, "2401.00001", "Scaling Laws", authors=["Ann Lee"])
    other = citation(2, "2401.00002", "Other", authors=["Bo Li"])
    text = bibtex([paper, other, again])
    assert text.count("@misc{") == 2
    assert list(parse(text)) == ["leescaling", "liother"]
    answers = [answer("q1", [paper, other]), answer("q2", [again])]
    assert parse(bibtex_of_answers(answers)) == parse(text)


def test_paper_without_arxiv_id():
    paper = citation(1, "0123456789ab", "A Blog Post", url="https://example.org/post?a=1&b_c")
    text = bibtex([paper])
    assert "eprint" not in text
    assert "archivePrefix" not in text
    [(key, fields)] = parse(text).items()
    assert key == "anonblog"
    assert set(fields) == {"title", "url"}
    assert fields["title"] == "A Blog Post"
    # Not LaTeX: styles typeset urls verbatim (a LaTeX decoder would take & for a table's).
    [raw] = parse(text, decode=False).values()
    assert raw["url"] == paper.url
    assert bibtex([citation(1, "0123456789ab", "")]) == "@misc{anon,\n}\n"
    assert bibtex([]) == ""


def test_arxiv_id_from_the_url():
    paper = citation(1, "0123456789ab", "Found", url="https://arxiv.org/abs/2310.02743v2")
    [fields] = parse(bibtex([paper])).values()
    assert fields["eprint"] == "2310.02743"
    assert fields["url"] == "https://arxiv.org/abs/2310.02743v2"


def test_answer_markdown():
    listing = Listing(upvotes=12, github="https://github.com/a/b", keywords=("rlhf", "reward"))
    first = citation(
        1,
        "2401.00001",
        "Reward *Models*",
        authors=["Ann Lee", "Bo Li"],
        date="2024-01-02",
        listing=listing,
        quote="Ensembles reduce <overoptimization> ~ $3 # | x.",
    )
    many = [f"Author {i}" for i in range(7)]
    second = citation(2, "0123456789ab", "No arXiv", url="https://example.org/p", authors=many)
    text = answer("What helps?", [first, second]).markdown()
    assert text.startswith(
        "# What helps?\n\n*Notice.*\n\nClaim 1 [1]. Claim 2 [2].\n\n## References\n\n[1] "
    )
    lines = text.splitlines()
    refs = [line for line in lines if re.match(r"\[\d+\] ", line)]
    assert refs == [
        "[1] **Reward \\*Models\\*** — Ann Lee, Bo Li (2024). arXiv:2401.00001,"
        " <https://arxiv.org/abs/2401.00001>",
        "[2] **No arXiv** — Author 0, Author 1, Author 2, Author 3, Author 4, et al."
        ". <https://example.org/p>",
    ]
    assert "> Ensembles reduce \\<overoptimization\\> \\~ \\$3 \\# \\| x." in lines
    assert f"> {second.quote}" in lines
    assert "12 upvotes · GitHub: <https://github.com/a/b> · Keywords: rlhf, reward" in lines
    assert answer_markdown(answer("Nothing?", [])) == "# Nothing?\n\n*Notice.*\n"


def test_conversation_markdown():
    one = answer("First question?", [citation(1, "2401.00001", "Paper A")])
    two = answer("Second question?", [citation(1, "2401.00002", "Paper B")])
    text = conversation_markdown([one, two])
    assert text.startswith("# PaperChat conversation\n")
    order = [text.index(s) for s in ["## First", "Paper A", "## Second", "Paper B"]]
    assert order == sorted(order)
    assert text.count("### References") == 2
    assert "No questions asked yet" in conversation_markdown([])


def check_real(answer: Answer) -> dict[str, dict[str, str]]:
    """An answer's exports agree with its citations; returns its parsed BibTeX."""
    assert answer.citations
    entries = parse(answer.bibtex())
    cited = {c.paper_id: c for c in answer.citations}
    assert len(entries) == len(cited)
    assert sorted(f["title"] for f in entries.values()) == sorted(c.title for c in cited.values())
    markdown = answer.markdown()
    for c in answer.citations:
        assert f"[{c.number}] **" in markdown
        assert f"> {' '.join(c.quote.split())}" in markdown
        assert f"[{c.number}]" in answer.text
    return entries


def test_default_collection_answer(default_chat):
    result = default_chat.ask("Which papers address reward overoptimization?")
    entries = check_real(result)
    assert all("eprint" not in fields for fields in entries.values())


@pytest.fixture
def hf_answer(chat, prepared) -> Answer:
    prepared("hf", chat.settings.data_dir)
    return chat.ask("Which papers are about agents?")


def test_hf_answer_has_arxiv_eprints(hf_answer):
    entries = check_real(hf_answer)
    by_eprint = {fields["eprint"]: fields for fields in entries.values()}
    assert set(by_eprint) == {c.paper_id for c in hf_answer.citations}
    for c in hf_answer.citations:
        fields = by_eprint[c.paper_id]
        assert nfc(fields["author"]).split(" and ") == c.authors
        assert fields["year"] == c.date[:4]
        assert fields["url"] == f"https://arxiv.org/abs/{c.paper_id}"
    for c in hf_answer.citations:
        if c.listing.github:
            assert f"GitHub: <{c.listing.github}>" in hf_answer.markdown()


def test_biber_reads_every_entry_as_written(tmp_path):
    """biber (installed by `make test`) parses the file, validates it against BibLaTeX's
    data model, and decodes every title and name back to the original text."""
    biber = shutil.which("biber")
    if biber is None:
        pytest.skip("biber is not installed: `make bibtex` installs it")
    papers = [
        citation(i, f"2401.0000{i}", title, authors=HARD_AUTHORS[i - 1 :], date="2024-01-02")
        for i, title in enumerate([*HARD_TITLES, "A Lone } Then { Open"], 1)
    ]
    source, checked = tmp_path / "refs.bib", tmp_path / "checked.bib"
    source.write_text(bibtex(papers), encoding="utf-8")
    run = subprocess.run(
        [biber, "--tool", "--validate-datamodel", "--output-file", str(checked), str(source)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert not re.search(r"\b(ERROR|WARN)\b", run.stdout), run.stdout
    entries = {
        entry.key: {f.key.lower(): f.value for f in entry.fields}
        for entry in bibtexparser.parse_string(
            checked.read_text(encoding="utf-8"), append_middleware=[LatexDecodingMiddleware()]
        ).entries
    }
    written = parse(source.read_text(encoding="utf-8"), decode=False)
    for paper, key in zip(papers, written, strict=True):
        fields = entries[key]
        if paper.title in HARD_TITLES:  # the decoder drops \textbraceleft{}: compared raw below
            assert nfc(fields["title"]) == paper.title
        surname_first = [f"{n.split()[-1]}, {' '.join(n.split()[:-1])}" for n in paper.authors]
        names = [nfc(n).removesuffix(", ") for n in fields["author"].split(" and ")]
        assert names == [n.removesuffix(", ") for n in surname_first]
        assert fields["eprint"] == paper.paper_id and fields["eprinttype"] == "arXiv"
    assert r"A Lone \textbraceright{} Then \textbraceleft{} Open" in checked.read_text()
