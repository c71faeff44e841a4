"""Tests of the CRM sink."""
