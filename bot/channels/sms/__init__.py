"""SMS through Aliyun 短信服务, send-only (docs/sms-email.md)."""
