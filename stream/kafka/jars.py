"""Fetches the Apache Kafka broker jars with Maven into a local cache once."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from stream.errors import BrokerError

log = logging.getLogger(__name__)

CACHE_ENV = "SCORESTREAM_CACHE"
COMPLETE_MARKER = ".complete"
MAVEN_TIMEOUT_S = 900.0


def repo_root() -> Path:
    """The checkout this package runs from (it holds deploy/kafka/pom.xml)."""
    return Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """$SCORESTREAM_CACHE, or .cache in the checkout."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else repo_root() / ".cache"


def lib_dir(version: str) -> Path:
    """Folder holding every jar the broker of `version` needs at run time."""
    return cache_root() / "kafka" / version / "lib"


def pom_path() -> Path:
    return repo_root() / "deploy" / "kafka" / "pom.xml"


def ensure_jars(version: str) -> Path:
    """Returns the lib folder for `version`, running Maven on first use only."""
    lib = lib_dir(version)
    marker = lib.parent / COMPLETE_MARKER
    if marker.is_file():
        return lib

    lib.parent.mkdir(parents=True, exist_ok=True)
    # Two processes starting brokers at once (tests, demo) must not both run
    # Maven into the same folder; the second waits and then finds the marker.
    with open(lib.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return lib
        _run_maven(version, lib)
        jars = sorted(p.name for p in lib.glob("*.jar"))
        if not any(name.startswith(f"kafka_2.13-{version}") for name in jars):
            raise BrokerError(
                f"Maven finished but {lib} has no kafka_2.13-{version} jar; "
                f"delete {lib.parent} and retry"
            )
        marker.write_text("\n".join(jars) + "\n")
    return lib


def _run_maven(version: str, lib: Path) -> None:
    pom = pom_path()
    if not pom.is_file():
        raise BrokerError(
            f"cannot fetch Kafka {version}: {pom} is missing (the local broker "
            "needs a source checkout); or set KAFKA_BOOTSTRAP to use a running "
            "broker"
        )
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "cannot fetch the Kafka jars: `mvn` is not on PATH; install Maven "
            "3.8+ and Java 17+, or set KAFKA_BOOTSTRAP to use a running broker"
        )

    print(f"fetching Kafka {version} jars via Maven (first run only)", file=sys.stderr)
    # A half-copied folder from an interrupted run would otherwise linger.
    shutil.rmtree(lib, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        f"-Dkafka.version={version}",
        f"-Dkafka.lib.dir={lib}",
        "dependency:copy-dependencies",
    ]
    log.info("running %s", " ".join(cmd))
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BrokerError(
            f"Maven did not finish fetching Kafka {version} within "
            f"{MAVEN_TIMEOUT_S:.0f}s; check access to Maven Central"
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise BrokerError(
            f"Maven failed to fetch Kafka {version} (exit {done.returncode}):\n"
            f"{tail}\nCheck Java/Maven and access to Maven Central."
        )
