"""The LLM answerer: `ChatOpenAI` against OpenAI or any OpenAI-compatible server.

Errors become `LLMError` with a message fit for the user; the key never appears in one.
"""

from __future__ import annotations

from collections.abc import Iterator

import openai
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from rag.config import Settings

NO_ANSWER = "NO_ANSWER"


class LLMError(RuntimeError):
    """The language model could not give an answer; the message says why, for the user."""


class BrokenStream(RuntimeError):
    """A stream that ended without the server saying it was finished."""


def make_chat_model(settings: Settings) -> ChatOpenAI:
    llm = settings.llm
    extra_body = None
    if settings.openai_base_url:
        # langchain-openai sends only max_completion_tokens, which llama.cpp's server ignores.
        extra_body = {"max_tokens": llm.max_tokens}
    return ChatOpenAI(
        model=llm.model,
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        temperature=llm.temperature,
        max_completion_tokens=llm.max_tokens,
        timeout=llm.timeout,
        max_retries=llm.max_retries,
        streaming=True,
        extra_body=extra_body,
    )


def causes(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def describe(error: Exception, settings: Settings) -> str:
    """What went wrong, in words for the user (LangChain and openai wrap the real cause)."""
    where = settings.openai_base_url or "the OpenAI API"
    chain = list(causes(error))

    def found(*types: type | str) -> BaseException | None:
        """The first cause of one of `types`; names match httpx's and httpx2's classes alike."""
        for cause in chain:
            bases = type(cause).__mro__
            if any(
                t in bases if isinstance(t, type) else t in {b.__name__ for b in bases}
                for t in types
            ):
                return cause
        return None

    if found(openai.AuthenticationError):
        return f"the language model at {where} refused the API key (HTTP 401)"
    if found(openai.RateLimitError):
        return f"the language model at {where} is rate-limited (HTTP 429), retries exhausted"
    if status := found(openai.APIStatusError):
        return f"the language model at {where} failed with HTTP {status.status_code}"
    if found("RemoteProtocolError", BrokenStream):
        return f"the answer stream from {where} broke off"
    if found(openai.APITimeoutError, "TimeoutException"):
        return f"the language model at {where} did not answer within {settings.llm.timeout:g} s"
    if found(openai.APIConnectionError, "TransportError"):
        return f"cannot reach the language model at {where}"
    return f"the language model at {where} sent an invalid response ({type(error).__name__})"


class LLMAnswerer:
    """Streams grounded answers and rewrites follow-ups, with the prompts from `prompts/`."""

    def __init__(self, settings: Settings, prompts: dict[str, str]) -> None:
        self.settings = settings
        self.model = make_chat_model(settings)
        self.answer_prompt = ChatPromptTemplate.from_messages(
            [("system", prompts["system"]), ("human", prompts["answer"])]
        )
        self.condense_chain = (
            ChatPromptTemplate.from_messages([("human", prompts["condense"])])
            | self.model
            | StrOutputParser()
        )
        self.judge_chain = (
            ChatPromptTemplate.from_messages([("human", prompts["judge"])])
            | self.model
            | StrOutputParser()
        )

    @property
    def name(self) -> str:
        return self.settings.llm.model

    def stream(self, question: str, context: str) -> Iterator[str]:
        """Answer text as it arrives. Raises LLMError, also when the stream breaks off."""
        messages = self.answer_prompt.format_messages(sources=context, question=question)
        received = finished = False
        try:
            for chunk in self.model.stream(messages):
                finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    received = True
                    yield text
            if received and not finished:
                raise BrokenStream
        except Exception as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        if not received:
            where = self.settings.openai_base_url or "the OpenAI API"
            raise LLMError(f"the language model at {where} sent an empty answer")

    def supports(self, claim: str, evidence: str) -> bool:
        """The model's verdict on whether `evidence` supports `claim` (for evaluation)."""
        try:
            reply = self.judge_chain.invoke({"claim": claim, "evidence": evidence})
        except Exception as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        return reply.strip().lower().startswith("yes")

    def condense(self, question: str, history: str) -> str:
        try:
            rewritten = self.condense_chain.invoke({"history": history, "question": question})
        except Exception as exc:
            raise LLMError(describe(exc, self.settings)) from exc
        return rewritten.strip().strip('"') or question
