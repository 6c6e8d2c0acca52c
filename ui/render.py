"""HTML for the chat: linked citations and source cards. All paper text is escaped here."""

from __future__ import annotations

import re
from html import escape

from rag.answer import OUTCOME_LABELS, Answer, Citation
from rag.load import arxiv_id

CITATION = re.compile(r"\[(\d{1,3})\]")
CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]+`)", re.S)  # Markdown shows code as it is


def link_citations(text: str, turn: int) -> str:
    """Turn `[n]` into links that reveal source card n of this turn."""
    return CITATION.sub(rf'<a class="cite" href="#s{turn}-\1">[\1]</a>', text)


def as_text(markdown: str) -> str:
    """Markdown whose `<`, `>` and `&` show as themselves: a paper's "A <b> test" is not
    taken for HTML, which the chat's sanitizer would remove. Code is left alone."""
    parts = CODE.split(markdown)  # odd parts are code
    return "".join(part if n % 2 else escape(part, quote=False) for n, part in enumerate(parts))


def chat_markdown(text: str, turn: int) -> str:
    """An answer as the chat shows it: its paper text as text, its `[n]` linked."""
    return link_citations(as_text(text), turn)


def answered_by(answer: Answer) -> str:
    """Who answered, and the notices that came after the text (what attribution changed)."""
    if answer.fell_back:
        label = "Answered by **offline extractive** (in place of the language model; see the note)"
    elif answer.answerer == "extractive":
        label = "Answered by **offline extractive**"
    else:
        label = f"Answered by **{escape(answer.answerer)}**"
    if outcome := OUTCOME_LABELS.get(answer.outcome):
        label += f" · *{escape(outcome)}*"
    late = [f"*{escape(notice)}*" for notice in answer.notices if notice not in answer.text]
    return "  \n".join([label, *late])


def highlighted_abstract(abstract: str, quote: str) -> str:
    """The abstract, escaped, with the supporting quote marked."""
    start = abstract.find(quote) if quote else -1
    if start < 0:
        return escape(abstract)
    end = start + len(quote)
    return f"{escape(abstract[:start])}<mark>{escape(quote)}</mark>{escape(abstract[end:])}"


def external_link(url: str, text: str) -> str:
    """A link that opens in a new tab; only http(s) URLs become links."""
    if not url.startswith(("https://", "http://")):
        return escape(text)
    return f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{escape(text)}</a>'


def paper_facts(citation: Citation) -> str:
    """The card's line of facts: relevance, id, date, Daily Papers day and upvotes, links."""
    listing = citation.listing
    facts = [f"relevance {citation.relevance:.2f}"]
    arxiv = arxiv_id(citation.paper_id)
    if arxiv:
        facts.append(external_link(f"https://arxiv.org/abs/{arxiv}", f"arXiv:{arxiv}"))
    else:
        facts.append(escape(citation.paper_id))
    if citation.date:
        facts.append(escape(citation.date))
    if listing.listed:
        facts.append(f"Daily Papers {escape(listing.listed)}")
    if listing.upvotes is not None:
        facts.append(f"▲ {listing.upvotes} upvote{'s' * (listing.upvotes != 1)}")
    if listing.github:
        facts.append(external_link(listing.github, "GitHub"))
    if listing.project_page:
        facts.append(external_link(listing.project_page, "project page"))
    return " · ".join(f'<span class="fact">{fact}</span>' for fact in facts)


def source_cards(answer: Answer, turn: int) -> str:
    """One card per cited paper: linked title, facts and links, AI keywords, the quote and
    the expandable abstract."""
    if not answer.citations:  # an abstract that does not state the fact is still cited
        return '<p class="no-sources">No paper in the collection was relevant.</p>'
    cards = []
    for c in answer.citations:
        title = external_link(c.url, c.title)
        keywords = "".join(f'<span class="keyword">{escape(k)}</span>' for k in c.listing.keywords)
        cards.append(
            f'<div class="source-card" id="s{turn}-{c.number}">'
            f'<div class="card-head"><span class="card-num">[{c.number}]</span> {title}</div>'
            f'<div class="card-meta">{paper_facts(c)}</div>'
            + (f'<div class="card-keywords">{keywords}</div>' if keywords else "")
            + f'<blockquote class="card-quote">{escape(c.quote)}</blockquote>'
            f"<details><summary>Full abstract</summary>"
            f'<p class="card-abstract">{highlighted_abstract(c.abstract, c.quote)}</p></details>'
            f"</div>"
        )
    return "".join(cards)


CSS = """
#sources .source-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 10px 12px; margin-bottom: 10px; background: var(--background-fill-secondary); }
#sources .source-card.cited { outline: 3px solid var(--color-accent);
  background: var(--color-accent-soft); }
#sources .card-head { font-weight: 600; }
#sources .card-num { color: var(--color-accent); margin-right: 4px; }
#sources .card-meta { font-size: 0.85em; opacity: 0.75; margin: 2px 0 6px; }
#sources .card-meta .fact { white-space: nowrap; }
#sources .card-keywords { margin: 0 0 6px; }
#sources .keyword { display: inline-block; font-size: 0.8em; padding: 0 6px; margin: 0 4px 2px 0;
  border-radius: 8px; background: var(--background-fill-primary);
  border: 1px solid var(--border-color-primary); }
#sources .card-quote { margin: 6px 0; padding-left: 10px; font-style: italic;
  border-left: 3px solid var(--color-accent); }
#sources mark { background: #fde68a; color: inherit; }
#sources .turn-title { font-size: 0.9em; opacity: 0.8; margin: 4px 0 8px; }
#chat a.cite, #chat a.cite:visited { color: var(--color-accent); text-decoration: none;
  font-weight: 600; cursor: pointer; }
#chat a.cite:hover, #chat a.cite:focus { text-decoration: underline; }
#chat .placeholder { padding: 0 24px; }
#titles { --font-mono: var(--font); }
#titles table { font-family: var(--font); font-size: 0.9em; }
#titles .virtual-row, #titles [role=gridcell] .cell-wrap { min-height: 0; }
#titles [role=gridcell] .cell-wrap { padding-top: 3px; padding-bottom: 3px; }
#upload label[data-testid="block-label"] { max-width: calc(100% - 44px); }
#ingest-report.failed { color: var(--error-text-color); border-left: 3px solid
  var(--error-border-color); padding-left: 8px; }
#question-hint { color: var(--error-text-color); font-size: 0.9em; min-height: 0; }
footer .divider { display: none; }
@media (max-width: 640px) { #sources .source-card { padding: 8px; } }
"""

# A click on [n] reveals its card: switch to the Sources tab, open its turn, scroll the card
# into view and mark it until another is chosen. The card's id is the link's href, since the
# chat's sanitizer strips data-* attributes.
HEAD = """
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  const id = (link.getAttribute("href") || "").replace(/^#/, "");
  const tab = Array.from(document.querySelectorAll("button[role='tab']"))
    .find((b) => b.textContent.trim().startsWith("Sources"));
  if (tab) tab.click();
  let tries = 0;
  const reveal = () => {
    const card = document.getElementById(id);
    if (!card || card.getClientRects().length === 0) {  // the tab is still switching
      if (++tries < 40) setTimeout(reveal, 25);
      return;
    }
    const details = card.closest("details");
    if (details) details.open = true;
    document.querySelectorAll(".source-card.cited").forEach((c) => c.classList.remove("cited"));
    card.classList.add("cited");
    card.scrollIntoView({behavior: "smooth", block: "center"});
  };
  reveal();
}, true);
</script>
"""
