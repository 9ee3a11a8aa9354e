"""Networks: the DDPM++/NCSN++-style score U-Net and the multiscale Glow prior."""
