"""The hostile console corpus, played through a real `dojo play --console` process.

tests/fixtures/hostile/console/ holds what an adversarial pass typed at the console: SQL
that runs forever, grows without bound or reaches outside the application database
(`sql.txt`, one statement per line), and lines of bad bytes, escapes, path tricks and
lines past the 64 KB cap (`lines.bin`, raw bytes). Every one must get its own answer or a
clear refusal, nothing may print a traceback or a codec's words, nothing may be written
outside the game's own folders, and the recorded game must still verify.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "console"
INCIDENT = "repeat-card-charges"  # has an application database for the SQL console

RunDojo = Callable[..., subprocess.CompletedProcess[bytes]]


def corpus_lines() -> tuple[list[bytes], list[bytes]]:
    sql = (CORPUS / "sql.txt").read_bytes().splitlines()
    sql = [s for s in sql if s and not s.startswith(b"#")]
    lines = [s for s in (CORPUS / "lines.bin").read_bytes().splitlines() if s]
    return sql, lines


def test_the_corpus_is_there() -> None:
    sql, lines = corpus_lines()
    assert len(sql) >= 10 and len(lines) >= 10
    assert any(len(x) > 65_536 for x in lines)  # one line past the console's cap
    assert any(b"\xff" in x for x in lines)  # and bytes that are not UTF-8


def test_every_hostile_console_input_gets_an_answer_and_nothing_breaks(
    tmp_path: Path, run_dojo: RunDojo
) -> None:
    sql, lines = corpus_lines()
    home = tmp_path / "home"
    home.mkdir()
    typed = [b"ack", *sql, *lines, b"quit"]
    proc = run_dojo(
        "play",
        INCIDENT,
        "--console",
        "--seed",
        "1",
        input=b"\n".join(typed) + b"\n",
        cwd=tmp_path,
        env={"DOJO_HOME": str(home)},
        timeout=300,
    )
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err[-2000:]
    for said in (out, err):
        assert "Traceback" not in said
        assert "codec can't" not in said and "surrogates not allowed" not in said
    prompts = [ln for ln in out.splitlines() if "] dojo> " in ln]
    assert len(prompts) == len(typed), (len(prompts), len(typed))
    # every SQL statement of the corpus is stopped or refused: none runs unbounded
    answers = out.split("] dojo> sql ")[1 : len(sql) + 1]
    for statement, answer in zip(sql, answers, strict=True):
        reply = answer.split("\n", 2)[1]
        assert reply.startswith("  ! "), (statement, reply)
    assert "a command line holds at most 64 KB" in out
    # nothing was written beside the player: ATTACH and friends reached no file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
    verify = run_dojo("verify", "--all", env={"DOJO_HOME": str(home)})
    assert verify.returncode == 0, verify.stdout + verify.stderr
