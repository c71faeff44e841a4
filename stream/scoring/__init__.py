"""Pure scoring logic: matching, periods, fit, activity, grades, the engine.

Nothing in this package imports Kafka or Faust.
"""
