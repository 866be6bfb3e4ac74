"""GAN losses on discriminator logits, in keras.ops so every backend shares them.

Each D loss returns its real and fake halves separately: the trainer logs both,
since a D that wins on real but loses on fake tells a different story than the total.
"""

from __future__ import annotations

from keras import ops


def bce_d_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    """Sigmoid cross-entropy from logits; one-sided smoothing moves real targets to 1 - s."""
    target = 1.0 - label_smoothing
    # BCE(logit, t) = softplus(logit) - t * logit, stable for large |logit|.
    real = ops.mean(ops.softplus(real_logits) - target * real_logits)
    fake = ops.mean(ops.softplus(fake_logits))
    return real, fake


def bce_g_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z))."""
    return ops.mean(ops.softplus(-fake_logits))


def hinge_d_loss(real_logits, fake_logits, label_smoothing: float = 0.0):
    del label_smoothing  # hinge has its own margin; smoothing does not apply
    real = ops.mean(ops.relu(1.0 - real_logits))
    fake = ops.mean(ops.relu(1.0 + fake_logits))
    return real, fake


def hinge_g_loss(fake_logits):
    return -ops.mean(fake_logits)


D_LOSSES = {"bce": bce_d_loss, "hinge": hinge_d_loss}
G_LOSSES = {"bce": bce_g_loss, "hinge": hinge_g_loss}
