"""Tests of the Kafka broker, client settings and topics."""
