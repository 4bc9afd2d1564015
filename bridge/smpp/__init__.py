"""Our SMPP 3.4 layer: codec, text, receipts, sessions and the bind pool."""
