"""Copies to another deployment of this service (`https://HOST/`), through its `/api/v1/import`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import httpx

from controlplane.destinations import Outgoing
from controlplane.errors import AgentUnavailableError, CopyVerificationError, ServiceError
from controlplane.settings import PeerConfig


@dataclass(frozen=True)
class PeerDestination:
    base_url: str  # scheme://host:port, no trailing slash
    config: PeerConfig

    def _headers(self) -> dict[str, str]:
        token = self.config.token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    async def copy(self, outgoing: Outgoing) -> str:
        record, size, md5 = outgoing.record, outgoing.size, outgoing.md5
        params = {"tag_name": outgoing.tag_name, "record_id": record.id, "hash_md5": md5, "size": str(size)}
        if record.begin_utc:
            params["begin_utc"] = record.begin_utc.isoformat()
        if record.end_utc:
            params["end_utc"] = record.end_utc.isoformat()
        headers = {"Content-Type": "video/mp4", "Content-Length": str(size), **self._headers()}
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(outgoing.deadline_s, connect=10)) as client:
                response = await client.post(
                    f"{self.base_url}/api/v1/import", params=params, content=outgoing.chunks, headers=headers
                )
        except httpx.HTTPError as exc:
            raise AgentUnavailableError(
                f"peer {self.base_url} is unreachable: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise ServiceError(f"peer {self.base_url} answered {response.status_code}: {response.text[:200]}")
        if response.json().get("hash_md5") != md5:
            raise CopyVerificationError(f"peer {self.base_url} kept a different MD5")
        return f"{self.base_url}/api/v1/record/{quote(record.id)}"

    async def delete(self, record_id: str, sync_location: str) -> None:
        async with httpx.AsyncClient(timeout=30, headers=self._headers()) as client:
            try:
                remote = (await client.get(sync_location)).raise_for_status().json()
                deleted = await client.delete(
                    f"{sync_location}/file", params={"location": remote["location"]}
                )
                deleted.raise_for_status()
            except httpx.HTTPError as exc:
                raise AgentUnavailableError(
                    f"peer {self.base_url} did not delete the copy: {type(exc).__name__}"
                ) from None

    def owns(self, sync_location: str) -> bool:
        return sync_location.startswith(self.base_url + "/")
