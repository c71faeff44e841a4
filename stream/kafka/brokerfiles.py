"""The server.properties and log4j2 files the local broker runs with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

SERVER_PROPERTIES = "server.properties"
LOG4J_CONFIG = "log4j2.xml"
LOG_DIRS = "kafka-data"
NODE_ID = 1

# Sized for a laptop and for tests: one node, so replication 1 everywhere;
# small segments so compaction of changelogs is visible within a test; few
# internal partitions and threads so the broker starts fast in little memory.
SETTINGS: dict[str, str | int] = {
    "process.roles": "broker,controller",
    "node.id": NODE_ID,
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": (
        "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    ),
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
    "num.partitions": 4,
    "default.replication.factor": 1,
    "min.insync.replicas": 1,
    "offsets.topic.replication.factor": 1,
    "offsets.topic.num.partitions": 4,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "transaction.state.log.num.partitions": 4,
    "share.coordinator.state.topic.replication.factor": 1,
    "share.coordinator.state.topic.min.isr": 1,
    "group.initial.rebalance.delay.ms": 0,
    "log.segment.bytes": 4 * 1024 * 1024,
    "log.retention.hours": 168,
    "log.cleaner.threads": 1,
    "log.cleaner.dedupe.buffer.size": 16 * 1024 * 1024,
    "log.cleaner.backoff.ms": 2000,
    "num.network.threads": 2,
    "num.io.threads": 4,
    "num.recovery.threads.per.data.dir": 1,
    "background.threads": 4,
}

LOG4J_TEMPLATE = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by Scorestream on every start; edits are overwritten. -->
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <RollingFile name="server" fileName={log_file}
                 filePattern={log_pattern}>
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="10MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="INFO"/>
  </Loggers>
</Configuration>
"""


@dataclass(frozen=True)
class ConfigFiles:
    server: Path
    log4j: Path
    log_dirs: Path


def write_config(
    data_dir: Path,
    host: str,
    port: int,
    controller_port: int,
    *,
    secure_port: int = 0,
    secure_settings: Mapping[str, str] | None = None,
) -> ConfigFiles:
    """Writes both files for these ports; run before every start.

    `port` 0 means no PLAINTEXT listener, `secure_port` 0 no SASL_SSL one;
    `secure_settings` (which hold passwords) configure the latter.
    """
    log_dirs = data_dir / LOG_DIRS
    client_listeners = []
    if port:
        client_listeners.append(f"PLAINTEXT://{host}:{port}")
    if secure_port:
        client_listeners.append(f"SASL_SSL://{host}:{secure_port}")
    settings = dict(SETTINGS)
    settings.update(
        {
            "listeners": ",".join(
                [*client_listeners, f"CONTROLLER://{host}:{controller_port}"]
            ),
            "advertised.listeners": ",".join(client_listeners),
            "inter.broker.listener.name": "PLAINTEXT" if port else "SASL_SSL",
            "controller.quorum.bootstrap.servers": f"{host}:{controller_port}",
            "log.dirs": str(log_dirs),
            **(secure_settings or {}),
        }
    )
    server = data_dir / SERVER_PROPERTIES
    lines = ["# Written by Scorestream on every start; edits are overwritten."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    # The file may hold the listener's passwords, so only its owner reads it.
    fd = os.open(server, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(server, 0o600)

    log4j = data_dir / LOG4J_CONFIG
    log_file = data_dir / "logs" / "server.log"
    log4j.write_text(
        LOG4J_TEMPLATE.format(
            log_file=quoteattr(str(log_file)),
            log_pattern=quoteattr(f"{log_file}.%i"),
        )
    )
    return ConfigFiles(server=server, log4j=log4j, log_dirs=log_dirs)
