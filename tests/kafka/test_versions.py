"""The Kafka version pin is the same in Python, the Maven pom and docker-compose."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from stream.kafka.broker import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_pom_default_version_is_the_pinned_one() -> None:
    pom = ET.parse(ROOT / "deploy" / "kafka" / "pom.xml").getroot()

    version = pom.find("m:properties/m:kafka.version", POM_NS)

    assert version is not None and version.text == KAFKA_VERSION


def test_docker_compose_uses_the_pinned_image_on_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port
    assert compose["services"]["worker"]["command"][:1] == ["worker"]
