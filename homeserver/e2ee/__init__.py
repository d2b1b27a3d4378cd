"""End-to-end encryption: device keys, cross-signing and key backups (spec: client-server-api "End-to-End Encryption")."""
