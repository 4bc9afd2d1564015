"""The inbound pipeline: MOs and DRs -> dedup, reassembly, correlation -> inbound topics."""
