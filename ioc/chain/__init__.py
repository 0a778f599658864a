"""The command chain's writes: one service function per action, each checking role, state and
version, appending an event and an audit row."""
