"""HTML for the chat: linked citations and source cards. All paper text is escaped here."""

from __future__ import annotations

import re
from html import escape

from rag.chain import Answer

CITATION = re.compile(r"\[(\d{1,3})\]")


def link_citations(text: str, turn: int) -> str:
    """Turn `[n]` into links that reveal source card n of this turn."""
    return CITATION.sub(rf'<a class="cite" href="#s{turn}-\1">[\1]</a>', text)


def answered_by(answer: Answer) -> str:
    """Who answered, and the notices that came after the text (what attribution changed)."""
    if answer.fell_back:
        label = "Answered by **offline extractive** (in place of the language model; see the note)"
    elif answer.answerer == "extractive":
        label = "Answered by **offline extractive**"
    else:
        label = f"Answered by **{escape(answer.answerer)}**"
    late = [f"*{escape(notice)}*" for notice in answer.notices if notice not in answer.text]
    return "  \n".join([label, *late])


def highlighted_abstract(abstract: str, quote: str) -> str:
    """The abstract, escaped, with the supporting quote marked."""
    start = abstract.find(quote) if quote else -1
    if start < 0:
        return escape(abstract)
    end = start + len(quote)
    return f"{escape(abstract[:start])}<mark>{escape(quote)}</mark>{escape(abstract[end:])}"


def source_cards(answer: Answer, turn: int) -> str:
    """One card per cited paper: title, link, quote, relevance, expandable abstract."""
    if not answer.citations:  # an abstract that does not state the fact is still cited
        return '<p class="no-sources">No paper in the collection was relevant.</p>'
    cards = []
    for c in answer.citations:
        title = escape(c.title)
        if c.url.startswith(("https://", "http://")):
            title = (
                f'<a href="{escape(c.url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
            )
        cards.append(
            f'<div class="source-card" id="s{turn}-{c.number}">'
            f'<div class="card-head"><span class="card-num">[{c.number}]</span> {title}</div>'
            f'<div class="card-meta">relevance {c.relevance:.2f} · {escape(c.paper_id)}</div>'
            f'<blockquote class="card-quote">{escape(c.quote)}</blockquote>'
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
