"""The life of a test peer started as a child process (fauxqs.py, dynalite.py): waiting for the
launcher's one readiness line on stdout, the tail of its stderr for messages, and a clean stop.

The launcher writes one line to stdout when it listens: the pipe is the readiness event (no
polling of the port, no sleeps); EOF means it died. Its stderr goes to a temporary file, read
back only for messages."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from typing import IO, Callable, Optional


def stderr_text(stderr: Optional[IO[bytes]]) -> str:
    """Everything the process wrote to its stderr file so far."""
    if stderr is None or stderr.closed:
        return ""
    stderr.seek(0)
    return stderr.read().decode("utf-8", "replace")


def stderr_tail(stderr: Optional[IO[bytes]]) -> str:
    """"; its stderr:\\n<the last 4000 characters>" for an error message, or ""."""
    text = stderr_text(stderr).strip()
    return f"; its stderr:\n{text[-4000:]}" if text else ""


def read_ready_line(proc: subprocess.Popen, name: str, timeout: float,
                    stderr: Optional[IO[bytes]], error: Callable[[str], Exception]) -> str:
    """The first line `proc` writes to stdout, within `timeout` seconds; raises error(message)
    naming `name` if it does not come or the process exits first."""
    assert proc.stdout
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise error(f"{name} did not report ready within {timeout} s"
                            f"{stderr_tail(stderr)}")
            if not sel.select(left):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = proc.wait()
                raise error(f"{name} exited with status {code} before it was ready"
                            f"{stderr_tail(stderr)}")
            buf += chunk
    return buf.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def stop_process(proc: subprocess.Popen, name: str, timeout: float,
                 stderr: Optional[IO[bytes]]) -> Optional[str]:
    """Sends SIGTERM and waits (SIGKILL after `timeout` seconds); closes the pipes and the stderr
    file. Returns what went wrong (killed, already exited, non-zero status, with the stderr
    tail), or None after a clean exit."""
    problem = None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            problem = f"{name} did not exit within {timeout} s of SIGTERM; killed"
    else:
        problem = f"{name} had already exited with status {proc.returncode}"
    if problem is None and proc.returncode != 0:
        problem = f"{name} exited with status {proc.returncode} after SIGTERM"
    if problem:
        problem += stderr_tail(stderr)
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()
    if stderr is not None:
        stderr.close()
    return problem
