"""InterMask networks: the 2D VQ-VAE, the Inter-M masked transformer, text encoders and sampling."""
