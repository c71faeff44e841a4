"""Tests of the stream worker against a real broker and RocksDB."""
