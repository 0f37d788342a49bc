"""The browser side of `dojo host --web` without a browser: which pages and files it serves
(and refuses), what a page's websocket accepts, and what a page's app may ask of the browser.
All on 127.0.0.1, every wait bounded."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from netkit import WAIT_S, link_of, serve_game

from oncall_dojo.incident.model import Incident
from oncall_dojo.net.hosting import close_game
from oncall_dojo.net.web import ENV_LINK, ENV_NAME, ENV_SOCKET, PlayerService, player_name


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_pages_are_served_for_players_seats_only(poison: Incident) -> None:
    async def go() -> None:
        served = await serve_game(poison, None, web=True)
        base = f"http://127.0.0.1:{served.server.port}"
        cmdr = token_of(link_of(served, "commander"))
        fac = token_of(link_of(served, "facilitator"))
        assert (
            "commander",
            f"{base}/play/{cmdr}",
        ) in served.browser_links
        assert not any(r == "facilitator" for r, _ in served.browser_links)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/play/{cmdr}?as=<b>cara</b>") as r:
                    assert r.status == 200
                    html = await r.text()
                    assert r.headers["Cache-Control"] == "no-store"
                    assert r.headers["Referrer-Policy"] == "no-referrer"
                assert (
                    f'data-session-websocket-url="ws://127.0.0.1:{served.server.port}/play/{cmdr}/ws/'
                    in html
                )
                assert "<b>cara" not in html  # the name is quoted into the URL, never markup
                for path, status in (
                    (f"/play/{fac}", 404),  # the answer sheet's seat is never a page
                    (f"/play/{cmdr}x", 404),
                    ("/play/", 404),
                    ("/download/anything", 404),  # no file deliveries
                    ("/static/js/textual.js", 200),
                    ("/static/", 403),  # no listing
                    ("/static/../server.py", 404),
                    ("/static/%2e%2e/server.py", 404),
                ):
                    async with http.get(base + path) as r:
                        assert r.status == status, path
                async with http.get(f"{base}/join/{cmdr}") as r:
                    assert f"{base}/play/{cmdr}" in await r.text()
                async with http.get(f"{base}/join/{fac}") as r:
                    assert "/play/" not in await r.text()
                for token in (fac, cmdr + "x"):
                    try:
                        async with http.ws_connect(f"{base}/play/{token}/ws"):
                            raise AssertionError("a page socket opened for a seat without a page")
                    except aiohttp.WSServerHandshakeError as exc:
                        assert exc.status == 404
            assert served.web.screens == {}
        finally:
            await close_game(served)

    asyncio.run(asyncio.wait_for(go(), 120))


def test_a_page_socket_ignores_what_is_not_keys_and_its_app_ends_with_it(
    poison: Incident,
) -> None:
    async def go() -> None:
        served = await serve_game(poison, None, web=True)
        base = f"ws://127.0.0.1:{served.server.port}"
        cmdr = token_of(link_of(served, "commander"))
        try:
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"{base}/play/{cmdr}/ws/cara?width=100&height=30")
                await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
                drawn = b""
                loop = asyncio.get_running_loop()
                end = loop.time() + WAIT_S
                while b"Your powers" not in drawn and loop.time() < end:
                    msg = await ws.receive(timeout=WAIT_S)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        drawn += msg.data
                assert b"Your powers" in drawn
                assert list(served.web.screens) == [1]  # the commander's seat has its page
                assert cmdr not in served.web.command  # the token is not on a command line
                for junk in (
                    "not json",
                    json.dumps({"stdin": "x"}),
                    json.dumps([]),
                    json.dumps(["stdin", 5]),
                    json.dumps(["resize", {"width": "wide", "height": None}]),
                    json.dumps(["open_url", "file:///etc/passwd"]),
                    json.dumps(["deliver_file_start", "key"]),
                ):
                    await ws.send_str(junk)
                await ws.send_bytes(b"\x00\x01binary")
                await ws.send_str(json.dumps(["ping", "still-here"]))
                while True:
                    msg = await ws.receive(timeout=WAIT_S)
                    if msg.type == aiohttp.WSMsgType.TEXT and "still-here" in msg.data:
                        break
                assert json.loads(msg.data) == ["pong", "still-here"]
                assert served.host.members["cara"].online
                await ws.close()
            end = asyncio.get_running_loop().time() + WAIT_S
            while served.web.screens and asyncio.get_running_loop().time() < end:
                await asyncio.sleep(0.05)
            assert served.web.screens == {}
            while served.host.members["cara"].online and asyncio.get_running_loop().time() < end:
                await asyncio.sleep(0.05)
            assert not served.host.members["cara"].online  # its app process left the game
        finally:
            await close_game(served)

    asyncio.run(asyncio.wait_for(go(), 120))


def test_a_page_app_may_not_open_links_or_deliver_files() -> None:
    async def go() -> None:
        sent: list[Any] = []
        closed: list[bool] = []

        async def write(data: Any) -> None:
            sent.append(data)

        async def close() -> None:
            closed.append(True)

        from textual_serve.download_manager import DownloadManager

        downloads = DownloadManager()
        svc = PlayerService(
            "true",
            {ENV_LINK: "http://127.0.0.1:1/join/t"},
            write_bytes=write,
            write_str=write,
            close=close,
            download_manager=downloads,
        )
        await svc.on_meta(b'{"type": "open_url", "url": "file:///etc/passwd", "new_tab": true}')
        await svc.on_meta(
            json.dumps(
                {
                    "type": "deliver_file_start",
                    "key": "k",
                    "path": "/etc/passwd",
                    "open_method": "download",
                    "mime_type": "text/plain",
                    "encoding": None,
                }
            ).encode()
        )
        await svc.on_meta(b"not json")
        assert sent == [] and closed == []
        assert not downloads._active_downloads
        await svc.on_meta(b'{"type": "exit"}')
        assert closed == [True]

    asyncio.run(go())


def test_the_app_process_gets_the_seat_in_its_environment_only(monkeypatch: Any) -> None:
    monkeypatch.setenv(ENV_NAME, "someone-else")
    monkeypatch.setenv(ENV_SOCKET, "/elsewhere.sock")

    async def noop(data: Any = None) -> None:
        return None

    from textual_serve.download_manager import DownloadManager

    svc = PlayerService(
        "true",
        {ENV_LINK: "http://127.0.0.1:1/join/tok"},
        write_bytes=noop,
        write_str=noop,
        close=noop,
        download_manager=DownloadManager(),
    )
    env = svc._build_environment(90, 30)
    assert env[ENV_LINK] == "http://127.0.0.1:1/join/tok"
    assert ENV_NAME not in env and ENV_SOCKET not in env
    assert env["TEXTUAL_DRIVER"].endswith("WebDriver")


def test_names_from_a_url_are_cleaned_and_capped() -> None:
    assert player_name("  cara\x1b[31m ") == player_name("cara\x1b[31m")
    assert "\x1b" not in player_name("cara\x1b[31m")
    assert len(player_name("x" * 500)) == 32
    assert player_name("   ") == ""


def test_join_from_env_needs_a_link() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "oncall_dojo", "join", "--from-env"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    assert r.returncode == 2
    assert re.search(r"--from-env: not a join link", r.stderr), r.stderr


def test_serving_browsers_does_not_load_textual_into_the_host() -> None:
    """The host serves pages through textual-serve's process service; textual itself runs in
    each page's app process, not in the host (`dojo host --web --line` stays light)."""
    probe = "import sys, oncall_dojo.net.web; print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_dojo_host_web_prints_a_page_per_players_seat_and_serves_it() -> None:
    cmd = [sys.executable, "-m", "oncall_dojo", "host", "payments-stuck", "--web"]
    cmd += ["--listen", "127.0.0.1:0", "--no-record", "--line", "--linger", "0"]
    cmd += ["--player", "fac", "--roles", "commander,operations"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        lines: list[str] = []
        for _ in range(60):  # what it prints before the console opens: bounded
            line = proc.stdout.readline()
            if not line or line.startswith("Facilitator console"):
                break
            lines.append(line)
        text = "".join(lines)
        pages = re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+/play/\S+)$", text, re.M)
        assert [role for role, _ in pages] == ["commander", "operations"], text
        joins = re.findall(r"^\s+(\w+)\s+http://127\.0\.0\.1:\d+/join/(\S+)", text, re.M)
        assert {role for role, _ in joins} == {"facilitator", "commander", "operations"}
        fac_token = next(tok for role, tok in joins if role == "facilitator")
        assert fac_token not in text.split("Or in a browser")[1]

        async def fetch(url: str) -> tuple[int, str]:
            async with aiohttp.ClientSession() as http, http.get(url) as r:
                return r.status, await r.text()

        status, html = asyncio.run(asyncio.wait_for(fetch(pages[0][1]), 30))
        assert status == 200 and "data-session-websocket-url" in html
        out, err = proc.communicate("end\n", timeout=120)
        assert proc.returncode == 0, err
        assert "Score" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_a_second_page_for_a_seat_replaces_the_first(poison: Incident) -> None:
    async def drawn_until(ws: aiohttp.ClientWebSocketResponse, needle: bytes) -> None:
        got = b""
        end = asyncio.get_running_loop().time() + WAIT_S
        while needle not in got:
            msg = await ws.receive(timeout=max(0.1, end - asyncio.get_running_loop().time()))
            if msg.type == aiohttp.WSMsgType.BINARY:
                got += msg.data
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                raise AssertionError(f"closed before {needle!r}")

    async def go() -> None:
        served = await serve_game(poison, None, web=True)
        base = f"ws://127.0.0.1:{served.server.port}"
        cmdr = token_of(link_of(served, "commander"))
        try:
            async with aiohttp.ClientSession() as http:
                first = await http.ws_connect(f"{base}/play/{cmdr}/ws/cara")
                await drawn_until(first, b"Your powers")
                second = await http.ws_connect(f"{base}/play/{cmdr}/ws/cara")
                await drawn_until(second, b"Your powers")
                while True:  # the first page is closed, with the reason
                    msg = await first.receive(timeout=WAIT_S)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "opened in another page"
                assert first.closed
                assert len(served.web.screens) == 1
                assert served.host.members["cara"].online
                await second.close()
        finally:
            await close_game(served)

    asyncio.run(asyncio.wait_for(go(), 120))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_pages_app_leaves_when_the_host_is_killed() -> None:
    cmd = [sys.executable, "-m", "oncall_dojo", "host", "payments-stuck", "--web"]
    cmd += ["--listen", "127.0.0.1:0", "--no-record", "--line", "--no-console", "--player", "fac"]
    scratch: list[Path] = []
    host = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        page = ""
        for _ in range(60):
            line = host.stdout.readline()
            if m := re.match(r"\s+commander\s+(http://\S+/play/\S+)$", line):
                page = m.group(1)
                break
        assert page, "no browser page printed"

        async def open_page() -> list[int]:
            ws_url = page.replace("http://", "ws://") + "/ws/zed"
            async with aiohttp.ClientSession() as http, http.ws_connect(ws_url) as ws:
                got = b""
                end = asyncio.get_running_loop().time() + WAIT_S
                while b"Your powers" not in got and asyncio.get_running_loop().time() < end:
                    msg = await ws.receive(timeout=WAIT_S)
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got += msg.data
                assert b"Your powers" in got
                apps = _children(host.pid)
                for app in apps:  # the host's scratch folder, which a killed host leaves
                    env = Path(f"/proc/{app}/environ").read_bytes().split(b"\0")
                    for item in env:
                        if item.startswith(ENV_SOCKET.encode() + b"="):
                            scratch.append(Path(item.split(b"=", 1)[1].decode()).parent)
                host.kill()  # while the page is open: no goodbye to anyone
                return apps

        apps = asyncio.run(asyncio.wait_for(open_page(), 120))
        assert len(apps) == 1, apps  # the page's app, the host's own child (exec'd)
        host.wait(30)
        for _ in range(300):  # bounded: 30 s
            if not _alive(apps[0]):
                break
            time.sleep(0.1)
        assert not _alive(apps[0]), "the page's app outlived its host"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait(30)
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)
