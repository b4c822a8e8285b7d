"""Real uses of trained autoencoders: anomaly detection, denoising, classifiers from few
labels, and scikit-learn estimators (imported lazily from the top-level ``aekit``)."""
