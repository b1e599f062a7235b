"""The worker's throwaway parent, which leaves nothing of it behind.

The grader starts this script, in a session of its own, in front of the sandboxed
command:

    grader -> shepherd -> [bwrap ->] python worker.py (template) -> worker, one per item

It runs as the grader's own user, outside every sandbox layer, and does three things:

- it is the worker's parent, so a worker that kills its parent (`os.kill(os.getppid(),
  9)`) hits the shepherd, never the grader;
- it is a child subreaper, so every process below it that loses its parent (a double
  fork, a `setsid`) is re-parented to it and cannot slip away;
- when the command ends, or the grader sends SIGTERM, or the grader dies, it kills
  everything below it, reaps it, and exits the way the command did (same exit status or
  same signal), so the grader reads the worker's own fate from the shepherd's.

Usage: python -I -S shepherd.py GRADER_PID COMMAND [ARG ...]   (standard library only)
"""

import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


class Stop(Exception):
    """The grader asked for everything below the shepherd to end."""


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _stop(signum, frame):
    raise Stop


def _children() -> list[int]:
    """The shepherd's children, from /proc (re-parented orphans included)."""
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        pass
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


def _end_everything_below(command_pid: int, command_status: int | None) -> int | None:
    """Kill and reap every descendant; return the command's wait status once known."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        for child in _children():
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return command_status
        if pid == command_pid:
            command_status = status


def _exit_like(status: int | None) -> None:
    """Exit with the command's status, or die of the signal that killed it."""
    sys.stdout.flush()
    if status is None:
        os._exit(125)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number != signal.SIGKILL:
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def _run(command: list[str]) -> int:
    """Start the command as a child; give the shepherd's own descriptors up."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    command_pid = os.fork()
    if command_pid == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
            os.execv(command[0], command)
        finally:
            os._exit(127)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    return command_pid


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGTERM, _stop)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    command_pid, status = 0, None
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != int(argv[1]):
            raise Stop  # the grader died before the death signal was armed
        command_pid = _run(argv[2:])
        while status is None:
            pid, wait_status = os.waitpid(-1, 0)
            if pid == command_pid:
                status = wait_status
    except Stop:
        pass
    _exit_like(_end_everything_below(command_pid, status))


if __name__ == "__main__":
    main(sys.argv)
