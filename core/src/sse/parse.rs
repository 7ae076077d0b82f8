//! Byte-exact SSE parsing for clients (filled in with the client).
