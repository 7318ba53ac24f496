"""The copy: graph walk, inventory, plan, execute, fan-out. Never prints; emits events."""
