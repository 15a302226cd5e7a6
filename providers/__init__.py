"""Everything that talks to the outside: Unipile, Meta WhatsApp, and the local sandbox."""
