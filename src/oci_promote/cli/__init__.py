"""The `oci-promote` command. Importing this package pulls in the standard library only."""
