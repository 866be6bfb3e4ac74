"""GAN Studio: train, explore and evaluate GANs on CIFAR-10 and image folders.

Importing the package is cheap on purpose: nothing here imports Keras, so the
Streamlit app can start before TensorFlow or JAX is loaded.
"""

__version__ = "0.1.0"
