# Source of notebooks/04_loss.ipynb (built and executed by notebooks/_build.py).

# %% [markdown]
# # 4. What is the loss?
#
# The **loss** is one number that measures how far the model's predictions are from the targets. Training
# is gradient descent on it, so two things matter: its **value** (what counts as a bad prediction) and its
# **gradient** (how hard, and in which direction, it pushes each prediction). This notebook puts the four
# losses of the course notes side by side on the same data:
#
# - **MSE**, mean squared error: $(s - t)^2$;
# - **binary cross-entropy** (BCE): $-[t \log p + (1 - t) \log(1 - p)]$ with $p = \sigma(s)$;
# - **cross-entropy** (softmax followed by the negative log-likelihood, NLL) for several classes;
# - **hinge**: $\max(0, 1 - y s)$ with labels $y = \pm 1$.
#
# Every gradient below is computed by the engine's `backward()`; the curves are not formulas typed in.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn
from chainrule.autograd import Value

F = nn.functional
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (10, 3.4), "axes.grid": True, "grid.alpha": 0.3})

# %% [markdown]
# ## One prediction moving: value and gradient of each loss
#
# Take one sample whose true class is the positive one, and let the model's raw score $s$ (a "logit") move
# from very wrong ($s \ll 0$) to very right ($s \gg 0$). Each loss sees it in its own terms: MSE compares
# the score (or the probability $\sigma(s)$) with the target 1; BCE and cross-entropy compare the probability
# with 1; hinge wants $s \geq 1$. For each $s$ the engine builds the loss and runs `backward()`; the gradient
# $\partial L / \partial s$ is what gradient descent will use to move the score.

# %%
def two_logits_ce(s):
    # Two classes with logits (0, s): the softmax probability of class 1 is sigmoid(s).
    return F.cross_entropy([Value(0.0), s], 1)


losses = {
    "MSE on the score, (s - 1)^2": lambda s: F.mse_loss(s, 1.0),
    "MSE on the probability, (sigmoid(s) - 1)^2": lambda s: F.mse_loss(s.sigmoid(), 1.0),
    "BCE, -log sigmoid(s)": lambda s: F.binary_cross_entropy_with_logits(s, 1.0),
    "cross-entropy, logits (0, s), class 1": two_logits_ce,
    "hinge, max(0, 1 - s)": lambda s: F.hinge_loss(s, 1.0),
}


def value_and_grad(loss, s: float) -> tuple[float, float]:
    score = Value(s, "s")
    out = loss(score)
    out.backward()
    return out.data, score.grad


scores = np.linspace(-6, 6, 241)
curves = {name: np.array([value_and_grad(loss, s) for s in scores]) for name, loss in losses.items()}

fig, (ax1, ax2) = plt.subplots(1, 2)
styles = ["-", "-", "-", ":", "-"]
for (name, curve), style in zip(curves.items(), styles):
    ax1.plot(scores, curve[:, 0], style, lw=2 if style == ":" else 1.5, label=name)
    ax2.plot(scores, curve[:, 1], style, lw=2 if style == ":" else 1.5, label=name)
ax1.set(xlabel="score s (the true class is positive)", ylabel="loss", ylim=(-0.3, 7), title="value")
ax2.set(xlabel="score s", ylabel="dL/ds (from backward)", ylim=(-4.5, 4.5), title="gradient")
fig.legend(*ax1.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=3, fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# The same numbers at a few scores ("very wrong" is $s = -4$, "very right" is $s = 4$):

# %%
points = [-4.0, -1.0, 0.0, 1.0, 4.0]
print(f"{'':44}" + "".join(f"{'s = ' + str(s):>17}" for s in points))
for name, loss in losses.items():
    row = [value_and_grad(loss, s) for s in points]
    print(f"{name:44}" + "".join(f"{v:8.3f} ({g:+6.3f})" for v, g in row))
print("(each entry: loss value (dL/ds))")

bce = [value_and_grad(losses["BCE, -log sigmoid(s)"], s) for s in scores]
ce = [value_and_grad(two_logits_ce, s) for s in scores]
sigmoid = 1 / (1 + np.exp(-scores))
print(f"\nBCE vs two-class cross-entropy, largest difference over the curve: "
      f"{np.max(np.abs(np.array(bce) - np.array(ce))):.1e}")
print(f"BCE's gradient vs sigmoid(s) - 1, largest difference: "
      f"{np.max(np.abs(np.array(bce)[:, 1] - (sigmoid - 1))):.1e}")

# %% [markdown]
# What the curves and the table say:
#
# - **MSE on the score** is a parabola around $s = 1$: it punishes a score that is *too right* ($s = 4$) as
#   hard as one that is wrong, and its gradient grows with the error, so one outlier can dominate a batch.
#   It is the loss for **regression**, where the target is a number to hit.
# - **MSE on the probability** is bounded, but look at its gradient on the far left: when the prediction is
#   confidently wrong, the sigmoid is saturated and the gradient is almost zero. The model learns slowest
#   exactly where it is most wrong.
# - **Binary cross-entropy** fixes that: $-\log \sigma(s)$ grows linearly when wrong, with a gradient close
#   to $-1$ (it is exactly $\sigma(s) - 1$, as the check above confirms), and fades smoothly to 0 when right.
#   The logarithm undoes the sigmoid's saturation.
# - **Cross-entropy** over two classes with logits $(0, s)$ is the same function as BCE (the difference is
#   rounding). With more classes it is the same idea: softmax, then the negative log of the true class's
#   probability.
# - **Hinge** is zero, with zero gradient, as soon as the score is on the right side with a margin
#   ($s \geq 1$); inside the margin it pushes with a constant gradient of $-1$. It does not produce
#   probabilities and ignores points that are already classified with a margin.

# %% [markdown]
# ## Cross-entropy for several classes: softmax, NLL and its gradient
#
# For $C$ classes the model outputs $C$ logits. Softmax turns them into probabilities; the NLL takes minus
# the log of the true class's probability. `cross_entropy(logits, target)` does both at once, and equals
# `nll_loss(log_softmax(logits), target)`. Its gradient with respect to the logits is
# $\text{softmax} - \text{one-hot}$: the engine arrives at it by the chain rule through logsumexp.

# %%
logit_values, target = [2.0, 0.5, -1.0], 1
logits = [Value(v, f"z{i}") for i, v in enumerate(logit_values)]
ce_loss = F.cross_entropy(logits, target)
nll = F.nll_loss(F.log_softmax(logits), target)
ce_loss.backward()
probs = [p.data for p in F.softmax(logits)]
one_hot = [1.0 if i == target else 0.0 for i in range(len(logits))]
print("logits             ", logit_values, " target class", target)
print("softmax            ", np.round(probs, 4))
print(f"cross_entropy       {ce_loss.data:.6f}")
print(f"nll(log_softmax)    {nll.data:.6f}")
print(f"-log p[target]      {-math.log(probs[target]):.6f}")
print("gradient (engine)  ", np.round([z.grad for z in logits], 4))
print("softmax - one_hot  ", np.round(np.subtract(probs, one_hot), 4))

# %% [markdown]
# Why the library computes it as `logsumexp(z) - z[target]` rather than `-log(softmax(z)[target])` written
# out naively: with large logits, $e^{z}$ overflows.

# %%
big = [Value(1000.0), Value(-1000.0), Value(0.0)]
naive = -(big[0].exp() / autograd.sum(z.exp() for z in big)).log()
print(f"naive -log(exp(z0) / sum(exp(z))) = {naive.data}   (exp(1000) overflows to inf, inf/inf = nan)")
print(f"cross_entropy(z, 0)               = {F.cross_entropy(big, 0).data}")
print(f"cross_entropy(z, 1)               = {F.cross_entropy(big, 1).data}")

# %% [markdown]
# ## The four losses on the same data set
#
# Now the same data (100 moons points, noise 0.1) and the same network (`MLP(2, [16, 16, k])` with ReLU,
# the same initial seed), trained for 100 full-batch SGD steps with each loss:
#
# - MSE: one output regressed onto the labels 0 / 1, predicted class = output > 0.5;
# - BCE with logits: one output (a logit), labels 0 / 1;
# - cross-entropy: two outputs (logits), class indices 0 / 1;
# - hinge: one output (a score), labels -1 / +1.
#
# The losses scale their gradients differently, so a single learning rate would favour one of them; each is
# run at several learning rates. (`nn.fit(compiled=True)` runs each step in the engine's batch mode.)

# %%
X, y = nn.make_moons(100, noise=0.1, seed=1)
setups = {
    "MSE": (1, y.astype(float), F.mse_loss),
    "BCE": (1, y, F.binary_cross_entropy_with_logits),
    "cross-entropy": (2, y, F.cross_entropy),
    "hinge": (1, 2 * y - 1, F.hinge_loss),
}


def train(name, lr, epochs=100):
    outputs, targets, loss = setups[name]
    model = nn.MLP(2, [16, 16, outputs], seed=0)
    opt = nn.optim.SGD(model.parameters(), lr=lr)
    history = nn.fit(model, X, targets, loss=loss, optimizer=opt, epochs=epochs, progress=False, compiled=True)
    return model, history


rates = [0.03, 0.1, 0.3, 1.0]
runs = {(name, lr): train(name, lr) for name in setups for lr in rates}
print("final training accuracy (final loss) after 100 steps")
print(f"{'':>14}" + "".join(f"{'lr = ' + str(lr):>18}" for lr in rates))
for name in setups:
    cells = [runs[name, lr][1] for lr in rates]
    print(f"{name:>14}" + "".join(f"{h.accuracy[-1]:>9.0%} ({h.loss[-1]:.3g})".rjust(18) for h in cells))

# %% [markdown]
# With this network and learning rates up to 1, the table shows MSE's weak spot: its gradient grows with the
# error, and at `lr = 1` it diverges (the loss becomes `nan`, and the accuracy is that of a constant guess)
# while the three classification losses train fine. At a small learning rate nothing reaches 100% in 100
# steps. Each loss's best run is drawn below: the loss values are on different scales and cannot be compared
# with each other, but the accuracies and the decision boundaries can.

# %%
def best(name):
    return max(rates, key=lambda lr: (runs[name, lr][1].accuracy[-1], -rates.index(lr)))


assert math.isnan(runs["MSE", 1.0][1].loss[-1])
assert all(runs[name, 0.03][1].accuracy[-1] < 1 for name in setups)
assert all(runs[name, 1.0][1].accuracy[-1] >= 0.99 for name in ("BCE", "cross-entropy", "hinge"))

xx, yy = np.meshgrid(np.linspace(-1.6, 2.6, 90), np.linspace(-1.2, 1.7, 70))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 5, figsize=(13, 2.9))
for name in setups:
    axes[0].plot(runs[name, best(name)][1].accuracy, label=f"{name}, lr = {best(name)}")
axes[0].set(xlabel="step", ylabel="training accuracy", ylim=(0.4, 1.02), title="accuracy")
axes[0].legend(fontsize=7)
for ax, name in zip(axes[1:], setups):
    model, history = runs[name, best(name)]
    out = autograd.compile(lambda x, model=model: model(x))(grid)
    # the predicted class: output > 0.5 for MSE, logit / score > 0 for BCE and hinge, argmax for cross-entropy
    cls = out[:, 1] > out[:, 0] if out.ndim == 2 else out > (0.5 if name == "MSE" else 0.0)
    ax.contourf(xx, yy, cls.reshape(xx.shape), cmap="coolwarm", alpha=0.35)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=8)
    ax.set(title=f"{name}: {history.accuracy[-1]:.0%}", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Which loss when
#
# - **Regression** (predict a number): **MSE** on the output. Its minimum is the mean of the targets, and big
#   errors cost quadratically.
# - **Two classes, and you want a probability**: **BCE with logits** on one output. Strong gradient when
#   confidently wrong, probabilities that mean something, and stable when computed from the logit.
# - **Several classes**: **cross-entropy** (softmax + NLL) on one logit per class: the multi-class BCE. Use
#   `nll_loss` when the model already outputs log-probabilities.
# - **Two classes, only the decision matters**: **hinge** on one score (max-margin, as micrograd's demo):
#   no gradient once a point is classified with a margin, no probabilities.
#
# Avoid MSE on a sigmoid output for classification: its gradient vanishes exactly when the model is
# confidently wrong (the flat left end of its gradient curve above). And compute BCE and cross-entropy from
# logits (`binary_cross_entropy_with_logits`, `cross_entropy`), not from probabilities you have already
# squashed, so that large scores neither overflow nor lose their gradient.
