"""How SageMaker's responses are decoded: the listings' summaries exactly as sent.

botocore's JSON parser walks each response along the operation's output shape,
member by member: it renames members, decodes blobs, converts timestamps,
drops null members and drops every key its model does not know. For the two
listings that fill the mirror that walk does nothing wanted:

* their output shapes have no blobs and no renamed members
  (tests/unit/test_responses.py checks the installed botocore's models);
* timestamps are kept as the wire sent them, epoch seconds, and turned into
  datetimes by models.parse_timestamp;
* dropping what the model does not know is wrong for the mirror, whose
  ``raw`` column is the summary as received: a field SageMaker adds before
  botocore's model has it belongs there too.

And the walk is a large share of each listing call's CPU. So their bodies are
returned as decoded JSON. Every other response, errors included, goes through
botocore's parser unchanged.

No response body is read past ``MAX_RESPONSE_BYTES``: a buggy or hostile
endpoint could otherwise send one as large as it likes, and decoding it takes
several times its size (the call fails with one line instead).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory
from aiobotocore.session import AioSession

# Output shapes returned as decoded, without the walk. Search's too: its
# ModelPackage, ModelPackageGroup, Model and Endpoint records (all this code
# searches) have no blob, renamed member or union either, the governance details keep the
# record as received, and the walk over 100 whole records costs more than
# the call itself.
VERBATIM_OUTPUTS = frozenset(
    {"ListModelPackagesOutput", "ListModelPackageGroupsOutput", "SearchResponse"}
)


class ListingParser(AioJSONParser):  # type: ignore[misc]  # aiobotocore has no types
    """botocore's parser for the JSON protocol, with the listing outputs taken verbatim."""

    def _handle_json_body(self, raw_body: bytes, shape: Any) -> Any:
        if raw_body and shape is not None and shape.name in VERBATIM_OUTPUTS:
            try:
                parsed = json.loads(raw_body)
            except ValueError:
                parsed = None
            # Anything but an object (a body cut short, a JSON array) is left to
            # botocore, and so fails as it always did.
            if isinstance(parsed, dict):
                return parsed
        return super()._handle_json_body(raw_body, shape)


class ParserFactory(AioResponseParserFactory):  # type: ignore[misc]
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return ListingParser(**self._defaults)
        return super().create_parser(protocol_name)


def _as_sent(value: Any) -> Any:
    return value


def as_received(session: AioSession) -> AioSession:
    """Make ``session``'s clients keep what the wire sent: listings unwalked, timestamps raw.

    Timestamps stay epoch seconds so that models.parse_timestamp turns them into
    datetimes in integers, without the float-to-datetime rounding botocore's
    parser would apply first.
    """
    factory = ParserFactory()
    factory.set_parser_defaults(timestamp_parser=_as_sent)
    session.register_component("response_parser_factory", factory)
    return session


# Far above what a page of 100 genuine records takes (AWS's own field limits),
# and far below what would endanger the process's memory limit.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class ResponseTooLarge(aiohttp.ClientError):
    """A response body over MAX_RESPONSE_BYTES: not read further, not decoded."""


class CappedResponse(aiohttp.ClientResponse):
    """An aiohttp response whose body is read only up to MAX_RESPONSE_BYTES."""

    async def read(self) -> bytes:
        if self._body is None:
            if (self.content_length or 0) > MAX_RESPONSE_BYTES:
                self.close()
                raise ResponseTooLarge(_too_large(self.content_length))
            body = bytearray()
            while chunk := await self.content.read(_CHUNK):
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    self.close()
                    raise ResponseTooLarge(_too_large(None))
            self._body = bytes(body)
        return await super().read()


def _too_large(length: int | None) -> str:
    said = f" of {length} bytes" if length is not None else ""
    return f"response body{said} over the {MAX_RESPONSE_BYTES}-byte limit; not read"


class CappedHttpSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore has no types
    """aiobotocore's HTTP session with its responses' bodies capped (CappedResponse)."""

    async def _get_session(self, proxy_url: Any) -> aiohttp.ClientSession:
        session: aiohttp.ClientSession = await super()._get_session(proxy_url)
        session._response_class = CappedResponse  # aiohttp's own hook for it
        return session
