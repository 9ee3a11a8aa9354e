"""dinof_train: train DiNof models (score diffusion + Glow prior at T_m) and export them as dinof bundles."""
__version__ = "0.1.0"
