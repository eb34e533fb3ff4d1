"""What the kernel says about processes and the machine: CPU time and resident memory.

Read straight from /proc (Linux): a process's utime + stime from /proc/<pid>/stat, its resident
set (VmRSS) and peak (VmHWM) from /proc/<pid>/status, and the machine's busy and idle time from
/proc/stat. No psutil: the harness needs nothing the project does not already have.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds of a process: its own, and its waited-for children's."""

    user: float
    system: float
    children: float

    @property
    def own(self) -> float:
        return self.user + self.system


def _stat_fields(pid: int) -> list[str]:
    raw = (PROC / str(pid) / "stat").read_text()
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_times(pid: int) -> CpuTimes | None:
    """utime, stime and cutime + cstime of `pid` in seconds; None when it is gone."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    user, system = int(fields[11]), int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return CpuTimes(user / CLOCK_TICKS, system / CLOCK_TICKS, children / CLOCK_TICKS)


def parent_pid(pid: int) -> int | None:
    try:
        return int(_stat_fields(pid)[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None


@dataclass(frozen=True)
class Memory:
    rss: int  # bytes
    peak_rss: int  # bytes: VmHWM, the highest resident set since the process started


def memory(pid: int) -> Memory | None:
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {
        match.group(1): int(match.group(2)) * 1024
        for match in re.finditer(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE)
    }
    if "VmRSS" not in values:
        return None
    return Memory(rss=values["VmRSS"], peak_rss=values.get("VmHWM", values["VmRSS"]))


def children(pid: int) -> list[int]:
    """Direct children of `pid`, found by scanning /proc (no procps needed)."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and parent_pid(int(entry.name)) == pid:
            found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of `pid`, its exited (reaped) children and its live children.

    PostgreSQL's postmaster reaps its backends, so this counts every backend's time, the ones
    that came and went included.
    """
    root = cpu_times(pid)
    if root is None:
        return None
    total = root.own + root.children
    for child in children(pid):
        times = cpu_times(child)
        if times is not None:
            total += times.own + times.children
    return total


@dataclass(frozen=True)
class MachineTimes:
    """Seconds of CPU over all cores since boot: busy (everything but idle and iowait) and all."""

    busy: float
    total: float


def machine_times() -> MachineTimes:
    first = (PROC / "stat").read_text().splitlines()[0].split()
    values = [int(v) for v in first[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user).
    idle = values[3] + values[4]
    total = sum(values[:8])
    return MachineTimes(busy=(total - idle) / CLOCK_TICKS, total=total / CLOCK_TICKS)


def listening_pid(port: int) -> int | None:
    """The process listening on TCP 127.0.0.1:`port` (or any address), from /proc/net/tcp.

    Reading other users' file descriptors needs the same user or root; None when unknown.
    """
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
    return None


def cpu_model() -> str:
    try:
        for line in (PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    return "unknown"


def memory_total() -> int:
    for line in (PROC / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0
