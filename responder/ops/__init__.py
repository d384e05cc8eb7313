"""Operations: metrics, readiness and structured logs; nothing here changes a message."""
