"""The stream worker: a Faust app that scores contacts as inputs arrive."""
