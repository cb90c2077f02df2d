"""Phase 4, neural networks and backprop: autograd by hand, CNNs, an autoencoder, a GAN, a Siamese encoder.

Each lab runs a piece of :mod:`lmforge.foundations` on small bundled data (scikit-learn's digits, the UCI
sentiment sentences), measures it and prints the result beside a reference: a published figure where the
setup is the same (micrograd's demo), otherwise a reference measured in the same run and said so.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lmforge.classic.classifier import TextClassifier
from lmforge.classic.data import read_labeled, stratified_split
from lmforge.classic.linear import LinearClassifier
from lmforge.foundations import autoencoder, backprop, gan, gradients, scalar_nn, siamese
from lmforge.foundations.cnn import ImageCNN, ImageCNNConfig, TextCNN, TextCNNConfig
from lmforge.foundations.data import Split, TensorBatches, digits, labeled_sentences
from lmforge.foundations.plots import image_grid
from lmforge.foundations.training import accuracy, classification_loss, fit
from lmforge.io import pyplot, save_png
from lmforge.labs._common import data_path
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.seeding import seed_everything

DOCS = "docs/labs-foundations.md"
SAME_RUN = "measured in this run on the same split"


def _minutes_left(ctx: LabContext, share: float = 1.0) -> float:
    """``share`` of the budget still left, in minutes (a training loop's max_minutes)."""
    return max(0.01, share * (ctx.deadline() - time.monotonic()) / 60.0)


def _deadline(ctx: LabContext, share: float = 1.0) -> float:
    return time.monotonic() + 60.0 * _minutes_left(ctx, share)


def _logreg_accuracy(split: Split) -> float:
    """Multinomial logistic regression on raw pixels (scikit-learn, L2, C=1): the linear baseline."""
    model = LinearClassifier.fit("logreg", split.x_train.flatten(1).numpy(), split.y_train.numpy())
    return float((model.predict(split.x_test.flatten(1).numpy()) == split.y_test.numpy()).mean())


def _curves(path, series: dict[str, list[float]], xlabel: str, ylabel: str, title: str, log: bool = False):
    fig, ax = pyplot().subplots(figsize=(7, 4))
    for label, values in series.items():
        ax.plot(range(1, len(values) + 1), values, label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)
    return path


@lab(id="foundations-autograd", phase="foundations", title="A scalar autograd engine trains micrograd's moons MLP",
     teaches=("lmforge.foundations.autograd", "lmforge.foundations.scalar_nn"), docs=f"{DOCS}#foundations-autograd",
     minutes=6)
def autograd_lab(ctx: LabContext) -> LabResult:
    """micrograd's demo with our Value engine: MLP 2-16-16-1 (337 weights) on 100 two-moons points, max-margin
    loss, 100 steps of gradient descent. First, the engine's gradients for every weight are compared with
    torch.autograd's on the same weights and loss (float64)."""
    from sklearn.datasets import make_moons

    n, sizes, steps = (20, [2, 4, 1], 3) if ctx.smoke else (100, [2, 16, 16, 1], 100)
    x, y = make_moons(n_samples=n, noise=0.1, random_state=ctx.seed)
    x, y = x.tolist(), (2 * y - 1).tolist()
    model = scalar_nn.ScalarMLP(sizes, seed=ctx.seed)
    loss, _ = scalar_nn.margin_loss(model, x, y)
    loss.backward()
    _, reference = scalar_nn.torch_gradients(model, x, y)
    max_diff = max(abs(p.grad - g) for p, g in zip(model.parameters(), reference, strict=True))
    start = time.perf_counter()
    history = scalar_nn.fit(model, x, y, steps, deadline=_deadline(ctx, 0.95))
    seconds = time.perf_counter() - start
    final_loss, final_accuracy = history[-1]
    plot = _curves(ctx.out_dir / "moons_training.png",
                   {"loss": [h[0] for h in history], "training accuracy": [h[1] for h in history]},
                   "step", "value", "Value-engine MLP on two moons")
    return LabResult(
        headline=(f"max |grad - torch grad| {max_diff:.1e} over {len(reference)} weights; after {len(history)} "
                  f"steps ({seconds:.0f} s) loss {final_loss:.4f}, training accuracy {100 * final_accuracy:.1f} %"),
        metrics={"max_abs_grad_diff": max_diff, "steps": len(history), "loss": final_loss,
                 "train_accuracy": final_accuracy, "seconds": seconds},
        reference=Reference("step 99 loss 0.0110, accuracy 100.0 % (same MLP, data size, loss and schedule; "
                            "different random init and moons sample)", "karpathy/micrograd demo.ipynb"),
        artifacts=[plot],
        notes="Pure-Python scalars: each step builds and walks a graph of ~70,000 Values, so the step count "
              "depends on the CPU; the run stops at its time budget and says how many steps it made.",
    )


@lab(id="foundations-backprop", phase="foundations", title="An MLP with hand-written backprop on digits",
     teaches=("lmforge.foundations.backprop",), docs=f"{DOCS}#foundations-backprop", minutes=2)
def backprop_lab(ctx: LabContext) -> LabResult:
    """A 64-64-10 tanh MLP whose gradients are written out with matrix calculus (no .backward()), checked
    against torch.autograd, then trained with SGD on scikit-learn's digits. Reference: scikit-learn's
    MLPClassifier (same hidden layer, tanh, autograd-free backprop of its own) on the same split."""
    from sklearn.neural_network import MLPClassifier

    split = digits(seed=ctx.seed)
    x_train, x_test = split.x_train.flatten(1).double(), split.x_test.flatten(1).double()
    g = torch.Generator().manual_seed(ctx.seed)
    mlp = backprop.ManualMLP([64, 64, 10], generator=g)
    _, grads = mlp.loss_and_gradients(x_train[:128], split.y_train[:128])
    ref_grads = backprop.autograd_gradients(mlp, x_train[:128], split.y_train[:128])
    max_diff = max(float((a - b).abs().max()) for a, b in zip(grads.weights + grads.biases,
                                                              ref_grads.weights + ref_grads.biases, strict=True))
    steps = 20 if ctx.smoke else 3000
    losses = backprop.fit_sgd(mlp, x_train, split.y_train, steps, lr=0.2, batch_size=32, seed=ctx.seed,
                              deadline=_deadline(ctx, 0.6))
    ours = float((mlp.logits(x_test).argmax(1) == split.y_test).double().mean())
    ref_model = MLPClassifier(hidden_layer_sizes=(64,), activation="tanh", max_iter=20 if ctx.smoke else 300,
                              random_state=ctx.seed).fit(x_train.numpy(), split.y_train.numpy())
    ref = float((ref_model.predict(x_test.numpy()) == split.y_test.numpy()).mean())
    smooth = np.convolve(losses, np.ones(20) / 20, mode="valid").tolist() if len(losses) >= 20 else losses
    plot = _curves(ctx.out_dir / "backprop_loss.png", {"mini-batch loss (mean of 20)": smooth}, "step",
                   "cross-entropy", "Hand-written backprop, SGD on digits", log=True)
    return LabResult(
        headline=(f"max |grad - autograd| {max_diff:.1e}; held-out accuracy {100 * ours:.1f} % after "
                  f"{len(losses)} SGD steps"),
        metrics={"max_abs_grad_diff": max_diff, "test_accuracy": ours, "sklearn_mlp_accuracy": ref,
                 "steps": len(losses)},
        reference=Reference(f"scikit-learn MLPClassifier(64 tanh units, adam): {100 * ref:.1f} %",
                            f"scikit-learn, {SAME_RUN}"),
        artifacts=[plot],
    )


@lab(id="foundations-gradients", phase="foundations", title="Vanishing and exploding gradients: RNN vs LSTM",
     teaches=("lmforge.foundations.gradients", "lmforge.models.blocks.recurrent"),
     docs=f"{DOCS}#foundations-gradients", minutes=1)
def gradients_lab(ctx: LabContext) -> LabResult:
    """||d loss / d h_t|| at every step of a 50-step sequence (the loss reads only the last state), for a plain
    tanh RNN at PyTorch's init and with recurrent gain 2, and for an LSTM with forget-gate bias 0 and 1."""
    steps = 10 if ctx.smoke else 50
    inputs = torch.randn(16, steps, 32, generator=torch.Generator().manual_seed(ctx.seed)) * 0.1
    cells = {
        "plain RNN (PyTorch init)": lambda: gradients.plain_rnn(32, 64),
        "plain RNN, recurrent gain 2": lambda: gradients.plain_rnn(32, 64, recurrent_gain=2.0),
        "LSTM, forget bias 0": lambda: gradients.lstm(32, 64, forget_bias=0.0),
        "LSTM, forget bias 1": lambda: gradients.lstm(32, 64, forget_bias=1.0),
    }
    curves, sigma = {}, {}
    for name, make in cells.items():
        torch.manual_seed(ctx.seed)
        cell = make()
        sigma[name] = float(torch.linalg.matrix_norm(cell.weight_hh.detach(), ord=2))  # largest singular value
        curves[name] = gradients.hidden_state_gradient_norms(cell, inputs, seed=ctx.seed)
    plot = ctx.out_dir / "gradient_norms.png"
    gradients.plot_gradient_norms(curves, plot)
    decay = {name: gradients.decay(norms) for name, norms in curves.items()}
    keys = ("rnn_default", "rnn_gain2", "lstm_bias0", "lstm_bias1")
    metrics = {f"{k}_first_over_last": v for k, v in zip(keys, decay.values(), strict=True)}
    metrics["rnn_default_largest_singular_value"] = sigma["plain RNN (PyTorch init)"]
    metrics["rnn_gain2_largest_singular_value"] = sigma["plain RNN, recurrent gain 2"]
    return LabResult(
        headline=(f"||dL/dh_1|| / ||dL/dh_{steps}||: plain RNN {decay['plain RNN (PyTorch init)']:.1e}, "
                  f"RNN gain 2 {decay['plain RNN, recurrent gain 2']:.1e}, LSTM forget bias 0 "
                  f"{decay['LSTM, forget bias 0']:.1e}, LSTM forget bias 1 {decay['LSTM, forget bias 1']:.1e}"),
        metrics=metrics,
        reference=Reference("with tanh, a largest singular value of W_hh below 1 is sufficient for vanishing "
                            "gradients and one above 1 is necessary for exploding ones (here "
                            f"{sigma['plain RNN (PyTorch init)']:.2f} at PyTorch's init, "
                            f"{sigma['plain RNN, recurrent gain 2']:.2f} with gain 2)",
                            "Pascanu, Mikolov, Bengio 2013, On the difficulty of training recurrent neural networks"),
        artifacts=[plot],
        notes="PyTorch's init has a largest singular value just above 1, so the sufficient condition does not "
              "apply, yet the gradient vanishes: tanh' < 1 and the typical, not the worst, direction decide. "
              "Gradients at initialisation, one seed, inputs N(0, 0.1^2). The LSTM's gradient survives through "
              "its additive cell path, scaled by the forget gate: it shows once that gate starts open.",
    )


def _uci_sentences() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for name in ("amazon_cells", "imdb", "yelp"):
        data = read_labeled(data_path(f"sentiment/uci_sentiment_labelled/{name}_labelled.txt"), text_col="0",
                            label_col="1", header=False)
        texts += data.texts
        labels += data.labels
    return texts, labels


@lab(id="foundations-text-cnn", phase="foundations", title="A Kim-style text CNN vs TF-IDF logistic regression",
     teaches=("lmforge.foundations.cnn", "lmforge.foundations.data", "lmforge.train.trainer"),
     docs=f"{DOCS}#foundations-text-cnn", minutes=4)
def text_cnn_lab(ctx: LabContext) -> LabResult:
    """Kim (2014)'s CNN-rand (random word vectors, widths 3/4/5, max over time, dropout 0.5) trained with the one
    Trainer on 2,160 UCI review sentences, scored on 540 held out, beside TF-IDF + logistic regression."""
    texts, labels = _uci_sentences()
    if ctx.smoke:
        texts, labels = texts[::10], labels[::10]
    split, words, classes = labeled_sentences(texts, labels, length=48, seed=ctx.seed)
    train_idx, test_idx = stratified_split(labels, 0.2, ctx.seed)  # the same split labeled_sentences made
    baseline = TextClassifier.train([texts[i] for i in train_idx], [labels[i] for i in train_idx], kind="logreg",
                                    seed=ctx.seed)
    predicted = baseline.predict([texts[i] for i in test_idx])
    ref = float(np.mean([p == labels[i] for p, i in zip(predicted, test_idx, strict=True)]))
    majority = float(max((split.y_test == c).float().mean() for c in range(len(classes))))
    seed_everything(ctx.seed)
    config = TextCNNConfig(len(words), len(classes), n_filters=8 if ctx.smoke else 100)
    model = TextCNN(config)
    steps = 5 if ctx.smoke else 1000
    result = fit(model, TensorBatches(split.x_train, split.y_train, batch_size=50, seed=ctx.seed),
                 classification_loss, ctx.out_dir / "text_cnn", steps, lr=3e-3, seed=ctx.seed,
                 max_minutes=_minutes_left(ctx, 0.9), console=ctx.console)
    ours = accuracy(model, split.x_test, split.y_test)
    return LabResult(
        headline=(f"text CNN {100 * ours:.1f} % held-out accuracy ({result.steps} steps) vs TF-IDF logistic "
                  f"regression {100 * ref:.1f} %, majority class {100 * majority:.1f} %"),
        metrics={"cnn_accuracy": ours, "logreg_accuracy": ref, "majority_accuracy": majority,
                 "steps": result.steps},
        reference=Reference(f"TF-IDF + logistic regression: {100 * ref:.1f} %",
                            f"lmforge.classic (scikit-learn LogisticRegression), {SAME_RUN}"),
        artifacts=[ctx.out_dir / "text_cnn" / "loss.png"],
        notes="Kim 2014 evaluates on other data (MR, SST, Subj, TREC, CR, MPQA), so no published figure is "
              "comparable and none is quoted. With random word vectors (Kim's CNN-rand), 2,160 training "
              "sentences are few for a CNN: a linear bag-of-words model is hard to beat on data this small.",
    )


@lab(id="foundations-image-cnn", phase="foundations", title="A small CNN vs logistic regression on 8x8 digits",
     teaches=("lmforge.foundations.cnn", "lmforge.train.trainer"), docs=f"{DOCS}#foundations-image-cnn", minutes=2)
def image_cnn_lab(ctx: LabContext) -> LabResult:
    """Two 3x3 convolutions + max-pool + linear, trained with the one Trainer on 1,438 digits, scored on 359."""
    split = digits(seed=ctx.seed)
    ref = _logreg_accuracy(split)
    seed_everything(ctx.seed)
    model = ImageCNN(ImageCNNConfig())
    steps = 5 if ctx.smoke else 1500
    result = fit(model, TensorBatches(split.x_train, split.y_train, batch_size=64, seed=ctx.seed),
                 classification_loss, ctx.out_dir / "image_cnn", steps, seed=ctx.seed,
                 max_minutes=_minutes_left(ctx, 0.9), console=ctx.console)
    ours = accuracy(model, split.x_test, split.y_test)
    return LabResult(
        headline=f"CNN {100 * ours:.1f} % held-out accuracy ({result.steps} steps) vs logistic regression "
                 f"{100 * ref:.1f} %",
        metrics={"cnn_accuracy": ours, "logreg_accuracy": ref, "steps": result.steps},
        reference=Reference(f"logistic regression on raw pixels: {100 * ref:.1f} %", f"scikit-learn, {SAME_RUN}"),
        artifacts=[ctx.out_dir / "image_cnn" / "loss.png"],
        notes="359 test images: one image is 0.28 points of accuracy.",
    )


@lab(id="foundations-autoencoder", phase="foundations", title="An autoencoder's 8-number code vs PCA",
     teaches=("lmforge.foundations.autoencoder", "lmforge.train.trainer"),
     docs=f"{DOCS}#foundations-autoencoder", minutes=2)
def autoencoder_lab(ctx: LabContext) -> LabResult:
    """A 64-64-8-64-64 autoencoder (trained with the one Trainer) against PCA with the same 8 numbers per image
    and against the mean image, all as mean squared pixel error on held-out digits."""
    from sklearn.decomposition import PCA

    split = digits(seed=ctx.seed)
    seed_everything(ctx.seed)
    model = autoencoder.Autoencoder(autoencoder.AutoencoderConfig(d_code=8))
    steps = 5 if ctx.smoke else 3000
    result = fit(model, TensorBatches(split.x_train, batch_size=64, seed=ctx.seed), autoencoder.reconstruction_loss,
                 ctx.out_dir / "autoencoder", steps, lr=1e-2, seed=ctx.seed, max_minutes=_minutes_left(ctx, 0.9),
                 console=ctx.console, loss_label="mean squared pixel error")
    ours = autoencoder.reconstruction_error(model, split.x_test)
    mean_error = autoencoder.mean_image_error(split.x_train, split.x_test)
    pca = PCA(n_components=8, random_state=ctx.seed).fit(split.x_train.flatten(1).numpy())
    test = split.x_test.flatten(1).numpy()
    pca_error = float(np.mean((pca.inverse_transform(pca.transform(test)) - test) ** 2))
    with torch.no_grad():
        pairs = torch.cat([split.x_test[:16], model(split.x_test[:16])])  # originals above, reconstructions below
    grid = ctx.out_dir / "reconstructions.png"
    image_grid(pairs, grid, title="held-out digits (top two rows) and their reconstructions", columns=8)
    return LabResult(
        headline=(f"held-out reconstruction error {ours:.4f} (8-number code, {result.steps} steps) vs PCA-8 "
                  f"{pca_error:.4f}, mean image {mean_error:.4f}"),
        metrics={"autoencoder_mse": ours, "pca_mse": pca_error, "mean_image_mse": mean_error, "steps": result.steps},
        reference=Reference(f"PCA with 8 components: {pca_error:.4f}", f"scikit-learn PCA, {SAME_RUN}"),
        artifacts=[grid, ctx.out_dir / "autoencoder" / "loss.png"],
    )


@lab(id="foundations-gan", phase="foundations", title="A small GAN learns to draw 8x8 digits",
     teaches=("lmforge.foundations.gan",), docs=f"{DOCS}#foundations-gan", minutes=3)
def gan_lab(ctx: LabContext) -> LabResult:
    """A 16-128-128-64 generator against a 64-128-128-1 discriminator, alternating Adam steps. Measured: how far
    the samples' per-pixel mean and spread are from held-out digits, before and after training, next to the
    same gap between the training and held-out digits themselves (what a perfect generator would reach)."""
    split = digits(seed=ctx.seed)
    noise = torch.Generator().manual_seed(ctx.seed + 1)
    untrained, _ = gan.train_gan(split.x_train, steps=0, seed=ctx.seed)
    before = gan.pixel_statistics_gap(untrained.sample(1000, noise), split.x_test)
    steps = 5 if ctx.smoke else 5000
    generator, history = gan.train_gan(split.x_train, steps=steps, seed=ctx.seed, deadline=_deadline(ctx, 0.9))
    samples = generator.sample(1000, torch.Generator().manual_seed(ctx.seed + 1))
    after = gan.pixel_statistics_gap(samples, split.x_test)
    real_gap = gan.pixel_statistics_gap(split.x_train, split.x_test)
    classifier = LinearClassifier.fit("logreg", split.x_train.flatten(1).numpy(), split.y_train.numpy())
    counts = np.bincount(classifier.predict(samples.flatten(1).numpy()).astype(int), minlength=10)
    share = counts / counts.sum()
    # log2(10) = 3.32 bits if every digit is drawn equally often, 0 if only one is (mode collapse); + 0.0: no "-0.00"
    entropy = float(-(share[share > 0] * np.log2(share[share > 0])).sum()) + 0.0
    grid = ctx.out_dir / "gan_samples.png"
    image_grid(samples[:32], grid, title=f"GAN samples after {history.steps} steps")
    losses = _curves(ctx.out_dir / "gan_losses.png", {"discriminator": history.d_loss, "generator": history.g_loss},
                     "step", "BCE", "GAN losses (a game: neither should reach 0)")
    return LabResult(
        headline=(f"pixel-statistics gap to held-out digits {before:.3f} -> {after:.3f} after {history.steps} "
                  f"steps; samples read as digits with class entropy {entropy:.2f} bits (max 3.32)"),
        metrics={"gap_before": before, "gap_after": after, "gap_train_vs_test": real_gap,
                 "class_entropy_bits": entropy, "steps": history.steps,
                 "final_d_loss": history.d_loss[-1], "final_g_loss": history.g_loss[-1]},
        reference=Reference(f"training vs held-out digits: gap {real_gap:.3f} (a perfect generator's floor)",
                            SAME_RUN),
        artifacts=[grid, losses],
        notes="Pixel statistics and the class mix of a logistic-regression reader are crude: they catch "
              "blurry or collapsed samples, not whether each sample is a convincing digit. Look at the grid.",
    )


@lab(id="foundations-siamese", phase="foundations", title="A Siamese encoder trained with in-batch negatives",
     teaches=("lmforge.foundations.siamese", "lmforge.objectives.contrastive", "lmforge.train.trainer"),
     docs=f"{DOCS}#foundations-siamese", minutes=2)
def siamese_lab(ctx: LabContext) -> LabResult:
    """One encoder for both sides of (digit image, another image of the same digit) pairs, trained with the
    MultipleNegativesRanking loss through the one Trainer. Held-out matching: a query image, ten candidates
    (one per digit), is the nearest by cosine the same digit? Compared with the same encoder untrained and
    with raw pixels."""
    split = digits(seed=ctx.seed)
    seed_everything(ctx.seed)
    encoder = siamese.SiameseEncoder(siamese.EncoderConfig())
    untrained = siamese.pair_retrieval_accuracy(encoder, split.x_test, split.y_test, seed=ctx.seed)
    raw = siamese.pair_retrieval_accuracy(torch.nn.Flatten(), split.x_test, split.y_test, seed=ctx.seed)
    steps = 5 if ctx.smoke else 2000
    result = fit(encoder, siamese.ClassPairBatches(split.x_train, split.y_train, seed=ctx.seed),
                 siamese.contrastive_pair_loss, ctx.out_dir / "siamese", steps, seed=ctx.seed,
                 max_minutes=_minutes_left(ctx, 0.9), console=ctx.console,
                 loss_label="in-batch negatives cross-entropy")
    trained = siamese.pair_retrieval_accuracy(encoder, split.x_test, split.y_test, seed=ctx.seed)
    return LabResult(
        headline=(f"held-out 1-of-10 matching {100 * trained:.1f} % after {result.steps} steps vs "
                  f"{100 * untrained:.1f} % untrained, {100 * raw:.1f} % raw-pixel cosine (chance 10 %)"),
        metrics={"trained_accuracy": trained, "untrained_accuracy": untrained, "raw_pixel_accuracy": raw,
                 "steps": result.steps},
        reference=Reference(f"cosine on raw pixels: {100 * raw:.1f} %", SAME_RUN),
        artifacts=[ctx.out_dir / "siamese" / "loss.png"],
        notes="sentence-transformers trains sentence encoders with this loss (MultipleNegativesRankingLoss); "
              "here the encoder is an MLP over pixels so the run takes seconds.",
    )
