"""The machine and the versions a run was measured on."""

from __future__ import annotations

import glob
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

import asyncpg

from bench import proc
from bench.config import REPO_ROOT, Target

PACKAGES = ("faststream", "aiokafka", "asyncpg", "pydantic", "structlog", "uvicorn", "matplotlib")


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout or done.stderr).strip() or "unknown"


def _kafka_version() -> str:
    jars = sorted(glob.glob(str(REPO_ROOT / ".local/kafka/libs/kafka_2.13-*.jar")))
    if not jars:
        return "unknown (not the local stack's jars)"
    return os.path.basename(jars[-1]).removeprefix("kafka_2.13-").removesuffix(".jar")


async def _postgres_version(target: Target) -> str:
    try:
        conn = await asyncpg.connect(f"{target.database_url.rstrip('/')}/postgres")
    except (OSError, asyncpg.PostgresError):
        return "unknown"
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def describe(target: Target) -> dict[str, Any]:
    commit = _run("git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD")
    dirty = _run("git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no")
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    java = _run("java", "-version").splitlines()
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": proc.cpu_model(),
        "memory_bytes": proc.memory_total(),
        "kernel": platform.release(),
        "load_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "postgresql": await _postgres_version(target),
        "kafka": _kafka_version(),
        "java": java[0] if java else "unknown",
        "packages": versions,
        "commit": commit + ("+local changes" if dirty not in ("", "unknown") else ""),
        "kafka_bootstrap": target.kafka_bootstrap,
        "kafka_topology": target.kafka_topology,
        "postgres_port": target.pg_port,
    }
