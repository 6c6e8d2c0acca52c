"""Follow-ups: rewrite a question that leans on the conversation into one that stands alone.

With an LLM, the model rewrites it (prompts/condense.txt). Offline, the previous turn's subject
is carried into the search: the papers the last answer named, and the last question's terms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.keyword import STOPWORDS

Message = dict[str, str]
REFERS_BACK = re.compile(
    r"\b(?:it|its|itself|this|that|these|those|they|them|their|theirs|above|previous|same"
    r"|the (?:paper|papers|method|methods|approach|model|models|authors?|work|study"
    r"|first|second))\b",
    re.IGNORECASE,
)
PLURAL = re.compile(r"\b(?:they|them|their|these|those|both|papers|methods|models)\b", re.I)


def validate_history(history: Sequence[Message] | None) -> list[Message]:
    """Messages in the OpenAI/Gradio form, or a ValueError saying what is wrong."""
    messages = []
    for index, message in enumerate(history or []):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise ValueError(
                f"history[{index}] must be {{'role': 'user'|'assistant', 'content': str}}"
            )
        content = message.get("content")
        if isinstance(content, list):  # Gradio 6 sends a list of parts: keep the text ones
            content = " ".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        if isinstance(content, str) and content.strip():
            messages.append({"role": message["role"], "content": content})
    return messages


def is_follow_up(question: str, history: list[Message]) -> bool:
    return bool(history) and (bool(REFERS_BACK.search(question)) or len(question.split()) <= 3)


def last(history: list[Message], role: str) -> str:
    return next((m["content"] for m in reversed(history) if m["role"] == role), "")


def condense_offline(question: str, history: list[Message], titles: Sequence[str]) -> str:
    """The question plus the subject of the previous turn, for retrieval."""
    if not is_follow_up(question, history):
        return question
    answer = last(history, "assistant")
    mentioned = sorted((t for t in titles if t and t in answer), key=answer.index)
    subject = mentioned if PLURAL.search(question) else mentioned[:1]
    words = re.findall(r"[\w-]+", last(history, "user"))
    terms = [w for w in words if w.lower() not in STOPWORDS and len(w) > 2]
    return " ".join([question, *subject, *terms]).strip()


def format_history(history: list[Message], max_chars: int = 4000) -> str:
    """The recent conversation as plain text for the condense prompt."""
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in history[-6:]]
    return "\n".join(lines)[-max_chars:]
