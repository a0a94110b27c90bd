"""E-mail over SMTP, send-only (docs/sms-email.md)."""
