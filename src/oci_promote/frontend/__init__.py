"""What the CLI and the Action share: settings read once, presentation of results."""
