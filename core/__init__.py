"""The kernel below every app: one error type, one way for async code to reach the database, realtime notices."""
