"""Fakes for testing guarded LangChain code without a real model.

`FakeLogprobChatModel` answers from a script and, unlike LangChain's
``GenericFakeChatModel``, keeps OpenAI-shaped logprobs in ``response_metadata``
on ``invoke`` and on ``stream`` (each chunk carries its token's slice), and
supports ``bind_tools`` so ``create_agent`` can drive it.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolCall,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from confguard.observation import TokenLogprob, TopLogprob
from langchain_confguard.chat_model import Messages, Run, Stop
from langchain_confguard.logprobs import openai_logprobs

_TOKEN = re.compile(r"\s*\S+|\s+")
OTHER_TOKEN = "<other>"


class FakeResponse(BaseModel):
    """One scripted reply: text with every token at probability `prob`, or tool calls.

    Example:
        >>> FakeResponse(text="Paris", prob=0.9).message().response_metadata["logprobs"]
    """

    model_config = ConfigDict(frozen=True)

    text: str = ""
    prob: float = Field(default=1.0, gt=0.0, le=1.0)
    tool_calls: tuple[ToolCall, ...] = ()
    logprobs: bool = True
    """False: the reply exposes no logprobs, like many providers."""

    def tokens(self) -> tuple[TokenLogprob, ...]:
        """The text split at whitespace, each piece at `prob`, one alternative."""
        chosen = math.log(self.prob)
        other = math.log(max(1.0 - self.prob, 1e-9))
        return tuple(
            TokenLogprob(
                token=piece,
                logprob=chosen,
                top_logprobs=(
                    TopLogprob(token=piece, logprob=chosen),
                    TopLogprob(token=OTHER_TOKEN, logprob=other),
                ),
            )
            for piece in _TOKEN.findall(self.text)
        )

    def metadata(self) -> dict[str, Any]:
        """The reply's response_metadata (logprobs in OpenAI's shape)."""
        finish = "tool_calls" if self.tool_calls else "stop"
        if not self.logprobs:
            return {"finish_reason": finish}
        return {"logprobs": openai_logprobs(self.tokens()), "finish_reason": finish}

    def message(self) -> AIMessage:
        """The reply as an AIMessage."""
        return AIMessage(
            content=self.text,
            tool_calls=list(self.tool_calls),
            response_metadata=self.metadata(),
        )


Script = Sequence[FakeResponse | str] | Mapping[str, FakeResponse | str]


def _response(item: FakeResponse | str) -> FakeResponse:
    return item if isinstance(item, FakeResponse) else FakeResponse(text=item)


class FakeLogprobChatModel(BaseChatModel):
    """A chat model replying from a script, with logprobs on invoke and on stream.

    A list is replayed in order (cycling); a dict picks the reply whose key occurs
    in the last message, so concurrent (batch) calls get stable answers.

    Example:
        >>> model = FakeLogprobChatModel(responses=[FakeResponse(text="Paris")])
        >>> model.invoke("Capital of France?").response_metadata["logprobs"]
    """

    responses: Script
    _calls: int = PrivateAttr(default=0)
    _kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        """How many replies the model has given."""
        return self._calls

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        """The extra kwargs (bound settings, stop) of every call, in order."""
        return list(self._kwargs)

    @property
    def _llm_type(self) -> str:
        return "fake-logprob-chat"

    def _pick(
        self, messages: Sequence[BaseMessage], kwargs: dict[str, Any]
    ) -> FakeResponse:
        with self._lock:
            number, self._calls = self._calls, self._calls + 1
            self._kwargs.append(kwargs)
        if isinstance(self.responses, Mapping):
            return _keyed(self.responses, messages[-1].text if messages else "")
        if not self.responses:
            raise ValueError("FakeLogprobChatModel has no scripted responses")
        return _response(self.responses[number % len(self.responses)])

    def _generate(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kw: Any
    ) -> ChatResult:
        reply = self._pick(messages, {"stop": stop, **kw})
        return ChatResult(generations=[ChatGeneration(message=reply.message())])

    def _stream(
        self, messages: Messages, stop: Stop = None, run_manager: Run = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._pick(messages, {"stop": stop, **kw})
        if reply.tool_calls:
            yield _tool_chunk(reply)
            return
        for token in reply.tokens():
            info = {"logprobs": openai_logprobs([token])} if reply.logprobs else None
            chunk = AIMessageChunk(content=token.token)
            yield ChatGenerationChunk(message=chunk, generation_info=info)
        last = AIMessageChunk(content="", chunk_position="last")
        yield ChatGenerationChunk(
            message=last, generation_info={"finish_reason": "stop"}
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Accept tools as a real model would (the script decides the calls)."""
        schemas = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=schemas, **kwargs)


def _keyed(script: Mapping[str, FakeResponse | str], text: str) -> FakeResponse:
    for key, item in script.items():
        if key in text:
            return _response(item)
    raise ValueError(f"no scripted response for {text[-80:]!r}; keys: {sorted(script)}")


def _tool_chunk(reply: FakeResponse) -> ChatGenerationChunk:
    chunks = [
        tool_call_chunk(
            name=call["name"], args=json.dumps(call["args"]), id=call.get("id"), index=i
        )
        for i, call in enumerate(reply.tool_calls)
    ]
    message = AIMessageChunk(content="", tool_call_chunks=chunks, chunk_position="last")
    return ChatGenerationChunk(message=message)


class FakeRetriever(BaseRetriever):
    """Returns fixed documents, or per query those under the first key it contains.

    Example:
        >>> FakeRetriever(documents=[Document("Paris is the capital.")]).invoke("q")
    """

    documents: Sequence[Document] | Mapping[str, Sequence[Document]] = ()
    k: int | None = None
    """Keep only the first k documents (None: all)."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        found = self._documents(query)
        return found if self.k is None else found[: self.k]

    def _documents(self, query: str) -> list[Document]:
        if not isinstance(self.documents, Mapping):
            return list(self.documents)
        for key, docs in self.documents.items():
            if key in query:
                return list(docs)
        return []


__all__ = ["OTHER_TOKEN", "FakeLogprobChatModel", "FakeResponse", "FakeRetriever"]
