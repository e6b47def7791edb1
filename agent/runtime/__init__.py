"""Wiring: the runtime every interface calls (ask, decide, resume), the services it opens,
checkpoints."""
