"""Cross-cutting pieces of the integrations API: settings, errors, auth, encryption, logging."""
