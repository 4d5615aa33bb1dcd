"""Everything that makes a model: degradation, calibration, GAN training, export, evaluation."""
