"""Stream only gated text: hold an attempt back whole, or gate it sentence by sentence.

- `confguard.streaming.holdback`: `HoldBack` and `pieces`, for integrations that
  hold an attempt's chunks back until the guard decided and release the gated
  text.
- `confguard.streaming.gate`: `SentenceBuffer` and `SentenceGate`, which cut a
  token stream into sentences as they complete and say, once each is scored as
  a claim, whether it may be released (`Released`) or stops the stream
  (`Stopped`).
- `confguard.streaming.drive`: `drive`/`adrive` and the `GatedStream` /
  `AsyncGatedStream` that `Guard.stream` / `AsyncGuard.astream` return.
"""

from confguard.claims.split import SentenceSplitter
from confguard.streaming.drive import (
    AsyncGatedStream,
    GatedStream,
    StreamSource,
    adrive,
    drive,
    open_stream,
    tail,
)
from confguard.streaming.gate import (
    Contexts,
    GateEvent,
    Piece,
    Released,
    Segment,
    SentenceBuffer,
    SentenceGate,
    Stopped,
    TokenStream,
)
from confguard.streaming.holdback import HoldBack, pieces

__all__ = [
    "AsyncGatedStream",
    "Contexts",
    "GateEvent",
    "GatedStream",
    "HoldBack",
    "Piece",
    "Released",
    "Segment",
    "SentenceBuffer",
    "SentenceGate",
    "SentenceSplitter",
    "Stopped",
    "StreamSource",
    "TokenStream",
    "adrive",
    "drive",
    "open_stream",
    "pieces",
    "tail",
]
