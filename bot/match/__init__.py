"""Match: who sent this? Sender addresses normalised, then looked up in the clinic's patient directory."""
