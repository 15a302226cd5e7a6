"""MongoEngine documents of the integrations API."""
from models.auth_attempt import AuthAttempt
from models.connection import Connection
from models.whatsapp import WhatsAppIntegration

ALL_DOCUMENTS = (Connection, WhatsAppIntegration, AuthAttempt)

__all__ = ["ALL_DOCUMENTS", "AuthAttempt", "Connection", "WhatsAppIntegration"]
