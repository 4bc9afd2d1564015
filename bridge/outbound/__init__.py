"""The outbound pipeline: request topic -> SMPP or HTTP -> status topic."""
