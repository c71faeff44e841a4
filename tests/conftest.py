"""Shared pytest configuration: the real Kafka broker fixture for all tests."""

pytest_plugins = ["tests.broker_fixture"]
