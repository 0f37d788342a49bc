"""TLS: a host with a certificate and key serves `https://` links; a client that trusts the
certificate plays, one that does not is refused the connection."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from netkit import join, link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.client import JoinError
from oncall_dojo.net.server import tls_context


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the TLS test needs the openssl command"
    crt, key = tmp_path / "host.pem", tmp_path / "host.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return crt, key


def test_a_tls_host_serves_clients_that_trust_it_only(
    poison: Incident, cert: tuple[Path, Path]
) -> None:
    crt, key = cert

    async def go() -> None:
        served = await serve_game(poison, None, ssl_context=tls_context(crt, key))
        link = link_of(served, "operations")
        assert link.startswith("https://127.0.0.1:")
        with pytest.raises(JoinError, match=r"certificate is not trusted.*--cafile"):
            await join(link, "omar")  # the system's CAs do not know this one: no retrying
        trusted = ssl.create_default_context(cafile=str(crt))
        omar = await join(link, "omar", ssl_context=trusted)
        assert (await omar.command("alerts")).kind == "investigate"
        await omar.close()
        await served.server.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
