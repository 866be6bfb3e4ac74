"""GAN Studio: train, explore and evaluate GANs on CIFAR-10 and image folders.

Importing the package is cheap on purpose: nothing here imports Keras, so the
Streamlit app can start before TensorFlow or JAX is loaded.
"""

import os

__version__ = "0.1.0"

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512; on an AVX2-only CPU (most
# laptops, and some 2-core cloud machines) it falls back to slower Eigen kernels. Measured on an AVX2 EPYC
# (benchmarks/RESULTS.md, 2026-12-06): the sngan-cpu step trains at 256 images/s with oneDNN, 140 without.
# Set before TensorFlow loads (it reads the variable once); a user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
