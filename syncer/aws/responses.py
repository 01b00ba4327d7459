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
"""

from __future__ import annotations

import json
from typing import Any

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
