# Source of notebooks/06_moons.ipynb (built and executed by notebooks/_build.py).

# %% [markdown]
# # 6. micrograd's demo, reproduced: an MLP learns the two moons
#
# Andrej Karpathy's micrograd ends with a demo: a small multilayer perceptron, trained by gradient descent
# with a scalar autograd engine, learns to separate two interleaving half-moons. This notebook runs the same
# recipe on chainrule:
#
# - 100 points of `make_moons` with noise 0.1, labels mapped to -1 / +1;
# - `MLP(2, [16, 16, 1])`: two hidden ReLU layers of 16 neurons and one linear output (337 parameters);
# - the loss is micrograd's: the mean hinge ("max-margin") loss `relu(1 - y * score)` plus
#   `1e-4 * sum(p**2)` (L2 regularisation);
# - 100 steps of full-batch SGD with micrograd's schedule `lr = 1.0 - 0.9 * k / 100`.
#
# The data are drawn by chainrule's own `nn.make_moons` (a port of scikit-learn's), so the points are not
# micrograd's exact ones; the recipe is.

# %%
import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn, viz

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (9, 3.4), "axes.grid": True, "grid.alpha": 0.3})

X, y01 = nn.make_moons(100, noise=0.1, seed=1)
y = 2 * y01 - 1  # -1 / +1, as the hinge loss wants
print(f"X: {X.shape}; {np.sum(y == -1)} points labelled -1, {np.sum(y == 1)} labelled +1")

fig, ax = plt.subplots(figsize=(4.5, 3.4))
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=20, edgecolors="k", linewidths=0.4)
ax.set(title="100 moons points, noise 0.1", xlabel="x0", ylabel="x1")
plt.show()

# %% [markdown]
# ## The model and the loss

# %%
model = nn.MLP(2, [16, 16, 1], seed=0)
print(model)
print("number of parameters:", len(model.parameters()))


def loss_and_accuracy(model, X, y, alpha=1e-4):
    """micrograd's loss: mean hinge loss plus alpha * sum of squared parameters; and the accuracy."""
    scores = [model(x) for x in X]
    data_loss = autograd.sum((1 - yi * s).relu() for yi, s in zip(y.tolist(), scores)) / len(scores)
    reg_loss = alpha * autograd.sum(p * p for p in model.parameters())
    accuracy = np.mean([(yi > 0) == (s.data > 0) for yi, s in zip(y, scores)])
    return data_loss + reg_loss, accuracy


total_loss, acc = loss_and_accuracy(model, X, y)
print(f"before training: loss {total_loss.data:.4f}, accuracy {acc:.0%}")
print(f"the graph of this loss has {len(autograd.topological_order(total_loss))} nodes")

# %% [markdown]
# That graph is too big to draw node by node, but one sample's part of it can be drawn with each layer
# collapsed into a summary box (`viz.draw(..., collapse=[...])`): how many ops and parameters it holds, its
# largest $|\text{grad}|$, and how many of its parameters are **cut off** for this sample: they get no
# gradient because the ReLU they feed is off (its local derivative is 0), so this sample cannot change them.

# %%
sample = 0
sample_loss = (1 - y[sample] * model(X[sample])).relu()
sample_loss.backward()
viz.draw(sample_loss, collapse=["layers.0", "layers.1", "layers.2"])  # the training loop zeroes the grads first

# %% [markdown]
# ## Training, written out as micrograd writes it
#
# Each step: forward all 100 points, build the loss, zero the gradients, `backward()`, and move every
# parameter against its gradient with the decaying learning rate.

# %%
history = {"loss": [], "accuracy": [], "lr": []}
for k in range(100):
    total_loss, acc = loss_and_accuracy(model, X, y)
    model.zero_grad()
    total_loss.backward()
    lr = 1.0 - 0.9 * k / 100
    for p in model.parameters():
        p.data -= lr * p.grad
    history["loss"].append(total_loss.data)
    history["accuracy"].append(acc)
    history["lr"].append(lr)
    if k % 10 == 0 or k == 99:
        print(f"step {k:3d} loss {total_loss.data:.4f}, accuracy {acc:.0%}")

final_loss, final_accuracy = loss_and_accuracy(model, X, y)
print(f"final training accuracy: {100 * final_accuracy:.1f}%  (loss {final_loss.data:.4f})")
print(f"each step builds and walks a graph of {len(autograd.topological_order(final_loss))} nodes")
assert final_accuracy == 1.0

# %% [markdown]
# (The printed accuracy at each step is measured on the forward pass before that step's update, as
# micrograd prints it; the final line re-measures after the last update.)
#
# ## The same run with `nn.fit`
#
# The library's training loop does exactly this: with the same seed, a `LinearLR` schedule from 1.0 to 0.1
# and `nn.functional.hinge_loss` it reproduces the hand-written loop's numbers.

# %%
model_fit = nn.MLP(2, [16, 16, 1], seed=0)
opt = nn.optim.SGD(model_fit.parameters(), lr=1.0)
schedule = nn.schedules.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=100)


def hinge_plus_l2(scores, labels):
    return nn.functional.hinge_loss(scores, labels) + 1e-4 * autograd.sum(p * p for p in model_fit.parameters())


fit_history = nn.fit(model_fit, X, y, loss=hinge_plus_l2, optimizer=opt, schedule=schedule, epochs=100,
                     progress=False, track_grads=True)
same_loss = max(abs(a - b) for a, b in zip(fit_history.loss, history["loss"]))
print(f"largest difference in the per-step loss: {same_loss:.1e}")
print(f"learning rates equal: {np.allclose(fit_history.lr, history['lr'], rtol=0, atol=1e-12)}")
print(f"accuracy of the nn.fit model: {nn.accuracy(model_fit, X, y):.0%}")
assert same_loss < 1e-9 and fit_history.accuracy == history["accuracy"]

# %% [markdown]
# ## Curves

# %%
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(10, 3.2))
ax1.plot(history["loss"])
ax1.set(xlabel="step", ylabel="loss", yscale="log", title="loss (hinge + L2)")
ax2.plot(history["accuracy"])
ax2.set(xlabel="step", ylabel="training accuracy", title="accuracy", ylim=(0.4, 1.02))
ax3.plot(history["lr"])
ax3.set(xlabel="step", ylabel="learning rate", title="micrograd's schedule")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Gradient flow during training
#
# `nn.fit(..., track_grads=True)` recorded, at every step, the mean and the largest $|\text{grad}|$ of each
# layer's parameters; `viz.grad_flow` draws them across training (solid: mean, dashed: max; dark: the first
# layer, light: the last).

# %%
fig, ax = plt.subplots(figsize=(9, 3.8))
viz.grad_flow(fit_history, ax=ax, title="gradient flow while training on the moons")
plt.show()
first, last = fit_history.grad_stats[0], fit_history.grad_stats[-1]
for layer in first:
    print(f"{layer}: mean |grad| {first[layer][0]:.3g} at the first step, {last[layer][0]:.3g} at the last")
means = [[stats[layer][0] for layer in stats] for stats in (first, last)]
assert all(max(m) < 10 * min(m) for m in means) and all(a > 30 * b for a, b in zip(*means))

# %% [markdown]
# The gradients shrink by one to two orders of magnitude as the model fits (the printed ratios): once a
# point is classified with a margin, its hinge loss is 0 and the relu in front of it blocks its gradient, so
# only the points near the boundary and the small L2 term still pull. All three layers stay within a factor
# of ten of each other throughout: no vanishing or exploding in this shallow ReLU network (compare the deep
# sigmoid network of notebook 5).

# %% [markdown]
# ## The decision boundary
#
# The model's score on a grid of points: positive (red) is the class +1, negative (blue) the class -1.
# A fine grid is many forward passes, so it is evaluated with the engine's compiled batch mode, which traces
# one forward pass and replays it over the whole grid with numpy (and gives the same scores as calling the
# model point by point, checked below).

# %%
h = 0.05
xx, yy = np.meshgrid(np.arange(X[:, 0].min() - 1, X[:, 0].max() + 1, h),
                     np.arange(X[:, 1].min() - 1, X[:, 1].max() + 1, h))
grid = np.c_[xx.ravel(), yy.ravel()]
score = autograd.compile(lambda x: model(x))
Z = score(grid)
with autograd.no_grad():
    spot = [model(p).data for p in grid[:: len(grid) // 50]]
print(f"{len(grid)} grid points; compiled vs point-by-point scores differ by at most "
      f"{np.max(np.abs(np.array(spot) - Z[:: len(grid) // 50])):.1e}")

fig, ax = plt.subplots(figsize=(5.5, 4))
ax.contourf(xx, yy, Z.reshape(xx.shape) > 0, cmap="coolwarm", alpha=0.35)
ax.contour(xx, yy, Z.reshape(xx.shape), levels=[0], colors="k", linewidths=1)
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=20, edgecolors="k", linewidths=0.4)
ax.set(xlim=(xx.min(), xx.max()), ylim=(yy.min(), yy.max()), title="decision boundary after 100 steps")
plt.show()

# %% [markdown]
# ## On points it has not seen
#
# The training accuracy says how well the model fits its 100 points. New points from the same distribution
# say how well it has learnt the moons.

# %%
X_test, y_test01 = nn.make_moons(500, noise=0.1, seed=2)
y_test = 2 * y_test01 - 1
print(f"training accuracy {nn.accuracy(model, X, y):.1%}, "
      f"accuracy on 500 new points {nn.accuracy(model, X_test, y_test):.1%}")

# %% [markdown]
# ## Summary
#
# micrograd's recipe works unchanged on chainrule's engine: the hand-written loop and `nn.fit` give the same
# losses step for step, the training accuracy printed above reaches 100%, and the boundary curls between the
# two moons. How fast a step runs, against micrograd and PyTorch, is measured in `benchmarks/`.
