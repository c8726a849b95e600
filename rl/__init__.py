"""Training and evaluation drivers: config, TRL/OpenRLHF backends, evaluation, logging."""
