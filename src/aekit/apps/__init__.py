"""Real uses of trained autoencoders: anomaly detection, classifiers from few labels,
inpainting, and scikit-learn estimators (imported lazily from the top-level ``aekit``).
Denoising needs no module of its own: ``runs.inference.denoise`` and the ``denoise`` figure
kind. Attribute directions live with the run (``runs.attributes``), as the ``edit`` figure
reads them."""
