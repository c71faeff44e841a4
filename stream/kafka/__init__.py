"""Kafka plumbing: the local broker, client settings and the topic set."""
