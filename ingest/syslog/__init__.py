"""Syslog receiver: RFC 5424/3164 messages over UDP, TCP (RFC 6587) and TLS (RFC 5425)."""
