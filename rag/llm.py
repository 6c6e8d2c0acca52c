"""The LLM answerer: `ChatOpenAI` against OpenAI, any OpenAI-compatible server, or a GGUF
model that llama.cpp runs inside PaperChat (rag/local_llm.py).

Errors become `LLMError` with a message fit for the user; the key never appears in one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import httpx
import tiktoken
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import SecretStr

from rag.config import Settings
from rag.local_llm import EmbeddedServer, LocalModelError, model_name
from rag.split import ENCODING

if TYPE_CHECKING:  # the OpenAI client loads (1.5 s) only when a model is configured
    from langchain_openai import ChatOpenAI

NO_ANSWER = "NO_ANSWER"
ABSTAIN = object()  # what `answer_or_abstain` yields when the model answers NO_ANSWER
TOKENIZER_SLACK = 1.2  # a model's tokenizer may count a text this much longer than cl100k_base
BRIEF_TOKENS = 96  # enough for a yes or no with its reason, or a rewritten question
BRIEF_ANSWER_TOKENS = 90  # a brief answer's sentence or two about one paper
BRIEF_REPEAT_PENALTY = 0.8  # the frequency penalty that keeps SmolLM2 from looping on a word
SMALL_MODEL = 1_000_000_000  # parameters below which a model is asked for brief answers
MODELS_TIMEOUT = 3.0  # seconds to wait for a server's list of models
SERVED_RETRY = 60.0  # seconds before a server that did not say what it serves is asked again
# What servers say when a prompt exceeds the model's window (llama.cpp, OpenAI, vLLM).
CONTEXT_ERROR = re.compile(
    r"exceed_context_size|context_length_exceeded|context (?:length|size)", re.I
)


class LLMError(RuntimeError):
    """The language model could not give an answer; the message says why, for the user."""


class BrokenStream(RuntimeError):
    """A stream that ended without the server saying it was finished."""


def make_chat_model(
    settings: Settings, base_url: str | None, max_tokens: int, frequency_penalty: float = 0.0
) -> ChatOpenAI:
    from langchain_openai import ChatOpenAI

    llm = settings.llm
    extra_body = None
    if base_url:
        # langchain-openai sends only max_completion_tokens, which llama.cpp's server ignores.
        extra_body = {"max_tokens": max_tokens}
    return ChatOpenAI(
        model=llm.model,
        stream_usage=True,  # the prompt's tokens, as the server counted them
        api_key=settings.openai_api_key or "not-needed",
        base_url=base_url,
        temperature=llm.temperature,
        max_completion_tokens=max_tokens,
        frequency_penalty=frequency_penalty or None,
        timeout=llm.timeout,
        max_retries=llm.max_retries,
        streaming=True,
        extra_body=extra_body,
    )


def causes(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def describe(error: Exception, settings: Settings, where: str) -> str:
    """What went wrong, in words for the user (LangChain and openai wrap the real cause)."""
    import openai

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

    if local := found(LocalModelError):
        return str(local)
    if (status := found(openai.BadRequestError)) and CONTEXT_ERROR.search(
        f"{status} {getattr(status, 'body', '')}"
    ):
        body = getattr(status, "body", None)
        window = body.get("n_ctx") if isinstance(body, dict) else None
        told = f"{window}" if isinstance(window, int) else "its window"
        return (
            f"the question and its sources do not fit the context window of the language model"
            f" at {where}: set PAPERCHAT_LLM_CONTEXT={told}"
            f" (now {settings.llm.context:,} tokens)"
        )
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


@dataclass(frozen=True)
class ServedModel:
    """The model a server says it runs, and its size when it says (llama.cpp does)."""

    name: str
    parameters: int | None = None


def served_model(base_url: str, configured: str, api_key: str | None) -> ServedModel | None:
    """What the OpenAI-compatible server at `base_url` serves (`GET /models`): the configured
    model when it lists it, else its only model (llama.cpp's server answers with the model it
    loaded whatever is asked); None when it does not say."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        listed = httpx.get(
            f"{base_url.rstrip('/')}/models", headers=headers, timeout=MODELS_TIMEOUT
        )
        models = listed.json()["data"] if listed.status_code == 200 else []
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(models, list):
        return None
    ids = [m.get("id") for m in models if isinstance(m, dict)]
    if configured in ids:
        found = models[ids.index(configured)]
    elif len(models) == 1 and isinstance(models[0], dict):
        found = models[0]
    else:
        return None
    name = PurePosixPath(str(found.get("id") or configured)).name.removesuffix(".gguf")
    meta = found.get("meta")
    parameters = meta.get("n_params") if isinstance(meta, dict) else None
    return ServedModel(name, parameters if isinstance(parameters, int) else None)


class LLMAnswerer:
    """Streams grounded answers and rewrites follow-ups, with the prompts from `prompts/`."""

    def __init__(
        self, settings: Settings, prompts: dict[str, str], local: EmbeddedServer | None = None
    ) -> None:
        self.settings = settings
        self.local = local
        self.answer_prompt = ChatPromptTemplate.from_messages(
            [("system", prompts["system"]), ("human", prompts["answer"])]
        )
        self.condense_prompt = ChatPromptTemplate.from_messages([("human", prompts["condense"])])
        self.judge_prompt = ChatPromptTemplate.from_messages([("human", prompts["judge"])])
        self.check_prompt = ChatPromptTemplate.from_messages([("human", prompts["check"])])
        self.brief_prompt = ChatPromptTemplate.from_messages(
            [("system", prompts["brief"]), ("human", prompts["brief_answer"])]
        )
        self._served: ServedModel | None = None
        self._asked_at = -SERVED_RETRY  # when the server was last asked what it serves

    @property
    def name(self) -> str:
        """The model that answers: the GGUF file's name for the embedded one; for another
        server, the model it says it serves (asked once), else the configured one."""
        if self.local:
            return model_name(self.local.gguf)
        served = self.served() if self.settings.openai_base_url else None
        return served.name if served else self.settings.llm.model

    def served(self) -> ServedModel | None:
        """What the server says it serves (the embedded server is started for it), asked
        until it answers, at most once a `SERVED_RETRY`; None for the OpenAI API, which
        names no sizes, and for a server that cannot be reached."""
        if self._served or not (self.local or self.settings.openai_base_url):
            return self._served
        if time.monotonic() - self._asked_at < SERVED_RETRY:
            return None
        self._asked_at = time.monotonic()
        key = self.settings.openai_api_key
        try:
            url = self.base_url
        except LocalModelError:
            return None  # said when the answer is asked of it
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._served = served_model(url, self.settings.llm.model, secret)
        return self._served

    @property
    def brief(self) -> bool:
        """Whether the model is asked for brief answers, one paper at a time: by the setting,
        or (auto) when its server reports fewer than `SMALL_MODEL` parameters."""
        style = self.settings.llm.style
        if style != "auto":
            return style == "brief"
        served = self.served()
        return bool(served and served.parameters and served.parameters < SMALL_MODEL)

    @property
    def where(self) -> str:
        if self.local:
            return f"llama.cpp ({self.local.gguf.name})"
        return self.settings.openai_base_url or "the OpenAI API"

    @property
    def base_url(self) -> str | None:
        """The server's URL; an embedded model's server starts here (raises LocalModelError)."""
        return self.local.url if self.local else self.settings.openai_base_url

    @cached_property
    def model(self) -> ChatOpenAI:
        """The chat model that writes answers."""
        return make_chat_model(self.settings, self.base_url, self.settings.llm.max_tokens)

    @cached_property
    def brief_model(self) -> ChatOpenAI:
        """The same model for short replies (a verdict, a rewritten question): a model that
        rambles is cut off early."""
        return make_chat_model(self.settings, self.base_url, BRIEF_TOKENS)

    def _invoke(self, prompt: ChatPromptTemplate, **values: str) -> str:
        try:
            return (prompt | self.brief_model | StrOutputParser()).invoke(values)
        except Exception as exc:
            raise LLMError(describe(exc, self.settings, self.where)) from exc

    def stream(self, question: str, context: str, outcome: dict | None = None) -> Iterator[str]:
        """Answer text as it arrives; `outcome["finish_reason"]` is set at the end ("length"
        when max_tokens cut it) and `outcome["prompt_tokens"]` grows by the prompt's tokens.
        Raises LLMError, also when the stream breaks off."""
        messages = self.answer_prompt.format_messages(sources=context, question=question)
        yield from self._stream(lambda: self.model, messages, outcome)

    def brief_stream(
        self, question: str, title: str, quotes: list[str], outcome: dict | None = None
    ) -> Iterator[str]:
        """What one paper says on the question, in a sentence or two restating `quotes`
        (prompts/brief*.txt), as it arrives; as `stream`."""
        messages = self.brief_prompt.format_messages(
            question=question, title=title, quotes="\n".join(f"- {q}" for q in quotes)
        )
        yield from self._stream(lambda: self.brief_answer_model, messages, outcome)

    @cached_property
    def brief_answer_model(self) -> ChatOpenAI:
        """The model for a brief answer about one paper: two sentences fit, and a small
        model that repeats a word is steered away from it."""
        return make_chat_model(
            self.settings, self.base_url, BRIEF_ANSWER_TOKENS, BRIEF_REPEAT_PENALTY
        )

    def _stream(
        self, model: Callable[[], ChatOpenAI], messages: list, outcome: dict | None
    ) -> Iterator[str]:
        """The text of `model()` (which may start the embedded server) for `messages` as it
        arrives (see `stream`)."""
        received = False
        finish_reason = None
        try:
            for chunk in model().stream(messages):
                if outcome is not None and chunk.usage_metadata:
                    prompt = chunk.usage_metadata.get("input_tokens", 0)
                    outcome["prompt_tokens"] = outcome.get("prompt_tokens", 0) + prompt
                finish_reason = finish_reason or chunk.response_metadata.get("finish_reason")
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    received = True
                    yield text
            if received and not finish_reason:
                raise BrokenStream
        except Exception as exc:
            raise LLMError(describe(exc, self.settings, self.where)) from exc
        if not received:
            raise LLMError(f"the language model at {self.where} sent an empty answer")
        if outcome is not None:
            outcome["finish_reason"] = finish_reason

    def answer_or_abstain(
        self, question: str, context: str, outcome: dict
    ) -> Iterator[str | object]:
        """`stream`'s text, or ABSTAIN alone when the answer is NO_ANSWER (its start is held
        back while it may still become NO_ANSWER)."""
        head = ""
        pieces = self.stream(question, context, outcome)
        for piece in pieces:
            head += piece
            if NO_ANSWER.startswith(head.strip()):
                continue
            if head.strip().startswith(NO_ANSWER):
                yield ABSTAIN
                return
            yield head
            yield from pieces
            return
        yield ABSTAIN if head.strip() == NO_ANSWER else head

    def bare_prompt(self, question: str) -> str:
        """The answer prompt without its sources, to measure what room the sources have."""
        messages = self.answer_prompt.format_messages(sources="", question=question)
        return "\n".join(str(m.content) for m in messages)

    def room_for_sources(self, question: str) -> int:
        """The tokens the sources may take in the model's window, beside the prompt and the
        answer (counted with cl100k_base, with room for a tokenizer that counts more)."""
        llm = self.settings.llm
        prompt = len(tiktoken.get_encoding(ENCODING).encode(self.bare_prompt(question)))
        return int((llm.context - llm.max_tokens) / TOKENIZER_SLACK) - prompt

    def addresses(self, question: str, title: str, abstract: str) -> bool:
        """The model's verdict on whether one paper addresses the question (prompts/check.txt
        asks for yes or no, then the sentence that shows it)."""
        reply = self._invoke(self.check_prompt, question=question, title=title, abstract=abstract)
        return reply.strip().lstrip("*#->\"' ").lower().startswith("yes")

    def supports(self, claim: str, evidence: str) -> bool:
        """The model's verdict on whether `evidence` supports `claim` (for evaluation)."""
        reply = self._invoke(self.judge_prompt, claim=claim, evidence=evidence)
        return reply.strip().lower().startswith("yes")

    def condense(self, question: str, history: str) -> str:
        rewritten = self._invoke(self.condense_prompt, history=history, question=question)
        return rewritten.strip().strip('"') or question
