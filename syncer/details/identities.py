"""What the mirror keeps of the people behind a record: SYNCER_IDENTITIES.

Search records name who created and last modified a package or group
(UserContext: an IAM ARN, a principal id, a Studio user profile). They are
personal data, kept as configured:

* ``keep``: as SageMaker gives them, in typed columns and in the stored record;
* ``hash``: each replaced by ``hmac:`` and its HMAC-SHA256 under
  SYNCER_IDENTITY_KEY, so that one person is one value (versions per
  creator still count) and nobody without the key can say who;
* ``drop``: none at all.

Other than ``keep``, the stored records lose CreatedBy and LastModifiedBy.
With SYNCER_DETAILS=false nothing is read, and the change history records no
identity either: as ``drop``. Every write of details and of the history's
identities goes through here (DetailsStore, the change feed), and a reconcile
brings what was stored before the setting changed into line
(syncer/cycle/privacy.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from syncer.details.parse import GroupDetails, PackageDetails
from syncer.models import PackageChange, _json
from syncer.settings import Settings

Mode = Literal["keep", "hash", "drop"]
# The record keys that hold identities (UserContext), stripped unless keep.
IDENTITY_KEYS = ("CreatedBy", "LastModifiedBy")
HASHED = "hmac:"


@dataclass(frozen=True)
class Identities:
    mode: Mode = "keep"
    key: bytes = b""

    @classmethod
    def from_settings(cls, settings: Settings) -> Identities:
        mode: Mode = settings.identities if settings.details else "drop"
        key = settings.identity_key.get_secret_value().encode() if settings.identity_key else b""
        return cls(mode, key)

    def value(self, identity: str | None) -> str | None:
        """One identity as stored."""
        if identity is None or self.mode == "keep":
            return identity
        if self.mode == "drop":
            return None
        if identity.startswith(HASHED):  # hashed already (a value re-stored)
            return identity
        return HASHED + hmac.new(self.key, identity.encode(), hashlib.sha256).hexdigest()

    def record(self, record: str) -> str:
        """A record's JSON text as stored: without the identity keys unless keep."""
        if self.mode == "keep" or not any(f'"{k}"' in record for k in IDENTITY_KEYS):
            return record
        item: dict[str, Any] = json.loads(record)
        for key in IDENTITY_KEYS:
            item.pop(key, None)
        return _json(item)

    def package(self, d: PackageDetails) -> PackageDetails:
        if self.mode == "keep":
            return d
        return replace(
            d,
            created_by_arn=self.value(d.created_by_arn),
            created_by_user_profile=self.value(d.created_by_user_profile),
            last_modified_by_arn=self.value(d.last_modified_by_arn),
            last_modified_by_user_profile=self.value(d.last_modified_by_user_profile),
            record=self.record(d.record),
        )

    def group(self, d: GroupDetails) -> GroupDetails:
        if self.mode == "keep":
            return d
        return replace(
            d,
            created_by_arn=self.value(d.created_by_arn),
            created_by_user_profile=self.value(d.created_by_user_profile),
            record=self.record(d.record),
        )

    def change(self, c: PackageChange) -> PackageChange:
        if self.mode == "keep":
            return c
        return replace(
            c,
            modified_by_arn=self.value(c.modified_by_arn),
            modified_by_user_profile=self.value(c.modified_by_user_profile),
        )
