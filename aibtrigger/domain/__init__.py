"""Pure domain: models, run state machine, planner, log parsing. Standard library only, no I/O, no clock."""
