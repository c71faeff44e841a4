"""The CRM sink: score changes to a CRM, batched, rate-limited and idempotent."""
