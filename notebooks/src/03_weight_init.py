# Source of notebooks/03_weight_init.ipynb (built and executed by notebooks/_build.py).

# %% [markdown]
# # 3. How are weights initialised?
#
# Before the first gradient step every weight needs a value. The choice decides whether training can start
# at all, and how fast it goes:
#
# 1. **Zeros or a constant**: every neuron of a layer starts identical and, as measured below, stays
#    identical. This is the **symmetry** problem. (One of the course notes calls it "asymmetry"; that is the
#    wrong way round: the trouble is too *much* symmetry, and random initialisation is what breaks it.)
# 2. **Random normal or uniform** with a fixed spread: the neurons differ, but whether the signal survives
#    many layers depends on the spread and the layer widths.
# 3. **Xavier / Glorot**: variance $2 / (\text{fan\_in} + \text{fan\_out})$ (that is $1/\text{fan\_avg}$),
#    designed to keep the scale of activations and gradients for tanh-like activations.
# 4. **He / Kaiming**: variance $2 / \text{fan\_in}$, for ReLU, which zeroes half of its inputs.
#
# We measure each on a deep tanh network and a deep ReLU network: the activations and gradients layer by
# layer (the engine records both on every node), then training curves.

# %%
import functools

import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn
from chainrule.nn.init import constant

F = nn.functional
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (10, 3.4), "axes.grid": True, "grid.alpha": 0.3})

X_moons, y_moons = nn.make_moons(100, noise=0.1, seed=1)

# %% [markdown]
# ## Constant initialisation: the symmetry problem
#
# A small tanh network, `MLP(2, [4, 4, 1])`, with every weight set to 0.5 (biases start at 0). All four
# neurons of the first layer see the same inputs through the same weights, so they compute the same value;
# by the chain rule they then receive the same gradient, so the same update; and so on forever. Here are the
# gradients of the first step, from the engine:

# %%
model = nn.MLP(2, [4, 4, 1], activation="tanh", init=constant(0.5))
loss = F.binary_cross_entropy_with_logits([model(x) for x in X_moons], y_moons.tolist())
loss.backward()
for j, neuron in enumerate(model.layers[0].neurons):
    print(f"layer 0, neuron {j}: dL/dw = {[round(w.grad, 6) for w in neuron.w]}, dL/db = {neuron.b.grad:.6f}")
model.zero_grad()

# %% [markdown]
# Identical, as predicted. Now train it (150 steps of Adam, learning rate 0.05) and look at the weights.

# %%
def layer_rows(layer):
    """One row per neuron: its weights then its bias."""
    return np.array([[w.data for w in neuron.w] + [neuron.b.data] for neuron in layer.neurons])


def spread_across_neurons(model):
    """For each layer, the largest difference between any neuron's parameters and neuron 0's."""
    return [float(np.max(np.abs(layer_rows(layer) - layer_rows(layer)[0]))) for layer in model.layers[:-1]]


def train_small(init, seed=0, epochs=150):
    model = nn.MLP(2, [4, 4, 1], activation="tanh", init=init, seed=seed)
    opt = nn.optim.Adam(model.parameters(), lr=0.05)
    history = nn.fit(model, X_moons, y_moons, loss=F.binary_cross_entropy_with_logits, optimizer=opt,
                     epochs=epochs, progress=False)
    return model, history


sym_model, sym_history = train_small(constant(0.5))
print("after 150 steps, layer 0 (one row per neuron: w0, w1, b):")
print(np.round(layer_rows(sym_model.layers[0]), 6))
print("largest difference between neurons of a layer, per hidden layer:", spread_across_neurons(sym_model))

rnd_model, rnd_history = train_small("xavier_uniform")
print("\nthe same network from random (Xavier) weights, layer 0 after 150 steps:")
print(np.round(layer_rows(rnd_model.layers[0]), 3))
print(f"\ntraining accuracy: constant init {sym_history.accuracy[-1]:.0%}, random init {rnd_history.accuracy[-1]:.0%}")
assert spread_across_neurons(sym_model) == [0.0, 0.0]
assert min(spread_across_neurons(rnd_model)) > 0.1
assert sym_history.accuracy[-1] < 0.95 <= rnd_history.accuracy[-1]

xx, yy = np.meshgrid(np.linspace(-1.6, 2.6, 90), np.linspace(-1.2, 1.7, 70))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
pairs = [("constant init", sym_model, sym_history), ("random init", rnd_model, rnd_history)]
for ax, (title, m, h) in zip(axes, pairs):
    z = autograd.compile(lambda x, m=m: m(x))(grid)
    ax.contourf(xx, yy, (z > 0).reshape(xx.shape), cmap="coolwarm", alpha=0.35)
    ax.scatter(X_moons[:, 0], X_moons[:, 1], c=y_moons, cmap="coolwarm", s=10)
    ax.set(title=f"{title}: training accuracy {h.accuracy[-1]:.0%}", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# The four rows of the constant-initialised layer are still exactly equal (a difference of 0.0, not merely
# small): however wide, each layer behaves like a single neuron copied four times. Worse, the whole network
# is then a function of a single number, the first layer's $w \cdot x + b$, so its decision boundary can
# only be straight lines parallel to each other: the left picture. Random weights make each neuron start
# different, so they receive different gradients and learn different features: the **symmetry is broken**,
# and the same network bends its boundary around the moons (right).
#
# Zeros are a special case of the same problem, and worse: with tanh (or ReLU), $\tanh(0) = 0$, so every
# hidden activation is 0; the last layer's weights then get zero gradient (their input is 0) and pass zero
# gradient back (their value is 0). Only the output bias can learn:

# %%
zero_model = nn.MLP(2, [4, 4, 1], activation="tanh", init="zeros")
before = zero_model.state_dict()
opt = nn.optim.SGD(zero_model.parameters(), lr=0.5)
nn.fit(zero_model, X_moons, y_moons, loss=F.binary_cross_entropy_with_logits, optimizer=opt, epochs=20,
       progress=False)
changed = [name for name, value in zero_model.state_dict().items() if value != before[name]]
print(f"parameters changed by 20 steps: {changed} (out of {len(before)})")
assert changed == ["layers.2.neurons.0.b"]

# %% [markdown]
# ## Random initialisations on deep networks: what reaches the last layer, and what comes back
#
# Two deep networks, 8 hidden layers of 16 neurons and one output: `MLP(2, [16] * 8 + [1])`, one with tanh
# and one with ReLU. Five initialisations of the weights:
#
# - `normal`: $\mathcal{N}(0, 1)$, variance 1 whatever the layer;
# - `uniform`: $U(-1, 1)$ (micrograd's), variance 1/3;
# - `xavier`: Xavier uniform, variance $2/(16 + 16) = 1/16$ in the hidden layers;
# - `xavier, gain 5/3`: the same times 5/3, the gain recommended for tanh (PyTorch's `calculate_gain("tanh")`),
#   which compensates for tanh shrinking its inputs;
# - `he`: He uniform, variance $2/16$.
#
# For each, 100 moons points go forward; the engine then runs `backward()` from the mean binary
# cross-entropy. For every hidden layer we measure the spread (standard deviation) of the activations, the
# share of saturated tanh units ($|h| > 0.97$, where $\tanh' < 0.06$) or dead ReLU outputs ($h = 0$, where
# the gradient is cut), the spread of the gradients $\partial L / \partial h$ that arrive back at the
# activations, and the mean $|\partial L / \partial w|$ of the layer's weights.

# %%
INITS = {
    "normal": "normal",
    "uniform": "uniform",
    "xavier": "xavier_uniform",
    "xavier, gain 5/3": functools.partial(nn.init.xavier_uniform, gain=5 / 3),
    "he": "he_uniform",
}
DEPTH, WIDTH = 8, 16


def deep_model(activation, init, seed=0):
    return nn.MLP(2, [WIDTH] * DEPTH + [1], activation=activation, init=init, seed=seed)


def layer_statistics(activation, init, X, y):
    """Forward X layer by layer, backward from the mean BCE; per hidden layer: activation and gradient stats."""
    model = deep_model(activation, init)
    hidden = [[] for _ in range(DEPTH)]  # the activation Values of each hidden layer, over all samples
    outputs = []
    for x in X.tolist():
        values = x
        for k, layer in enumerate(model.layers):
            values = layer(values)
            if k < DEPTH:
                hidden[k].extend(values)
        outputs.append(values)
    F.binary_cross_entropy_with_logits(outputs, y.tolist()).backward()
    h = [np.array([v.data for v in layer]) for layer in hidden]
    g = [np.array([v.grad for v in layer]) for layer in hidden]
    blocked = [np.mean(np.abs(a) > 0.97) if activation == "tanh" else np.mean(a == 0) for a in h]
    weight_grads = [np.mean([abs(w.grad) for n in layer.neurons for w in n.w]) for layer in model.layers[:DEPTH]]
    return {"act std": [a.std() for a in h], "blocked": blocked, "grad std": [a.std() for a in g],
            "weight grad": weight_grads}


stats = {(act, name): layer_statistics(act, init, X_moons, y_moons) for act in ("tanh", "relu") for name, init in
         INITS.items()}


def show(activation, key, fmt):
    print(f"{key} per hidden layer, {activation} network")
    print(f"{'layer':>18}" + "".join(f"{k:>9}" for k in range(1, DEPTH + 1)))
    for name in INITS:
        print(f"{name:>18}" + "".join(f"{v:>9{fmt}}" for v in stats[activation, name][key]))


for act in ("tanh", "relu"):
    show(act, "act std", ".3f")
    show(act, "blocked", ".0%")
    show(act, "grad std", ".1e")
    print()

# %%
fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True)
layers = range(1, DEPTH + 1)
for row, act in enumerate(("tanh", "relu")):
    for name in INITS:
        s = stats[act, name]
        axes[row, 0].plot(layers, s["act std"], marker="o", ms=3, label=name)
        axes[row, 1].plot(layers, s["grad std"], marker="o", ms=3, label=name)
        axes[row, 2].plot(layers, s["weight grad"], marker="o", ms=3, label=name)
    axes[row, 0].set(yscale="log", ylabel=f"{act} network", title=f"{act}: spread of activations h")
    axes[row, 1].set(yscale="log", title=f"{act}: spread of dL/dh")
    axes[row, 2].set(yscale="log", title=f"{act}: mean |dL/dw| of the layer")
for ax in axes[1]:
    ax.set_xlabel("hidden layer (1 = nearest the input)")
axes[0, 0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Reading the tables and the plots, layer by layer:
#
# - **ReLU + `normal`**: each layer multiplies the spread of the activations by about
#   $\sqrt{16 \cdot 1 / 2} \approx 2.8$, so it explodes through the layers; the gradients are huge as well.
# - **ReLU + `xavier`**: the variance $1/16$ is half of what ReLU needs (it discards half of the signal), so
#   each layer multiplies the spread by about $\sqrt{1/2} \approx 0.7$: it shrinks layer after layer, and so
#   do the gradients $\partial L / \partial h$ on their way back to the first layers.
# - **ReLU + `he`**: the variance $2/\text{fan\_in}$ makes up for the half that ReLU zeroes, and the spread
#   of the activations and of the gradients stays roughly level from the first layer to the last.
# - **tanh + `normal`** (and, less so, `uniform`): pre-activations with a large spread push many tanh units
#   into saturation (the "blocked" share: over half of them in the deeper layers for `normal`), where the
#   local derivative is nearly 0.
# - **tanh + `xavier`**: no saturation, but tanh shrinks its inputs a little, so the activations fade with
#   depth; the gain 5/3 compensates and keeps them level.
# - The ReLU "blocked" share is about half whatever the initialisation: that is ReLU's own halving, the very
#   reason He doubles the variance. (The four uniform initialisers even give identical rows: the biases start
#   at 0, so which units output 0 depends only on the signs of the weights, and these initialisers draw the
#   same random numbers, only scaled.)
#
# The checks below pin the clearest of these on the measured numbers.

# %%
def growth(activation, name, key="act std"):
    """The ratio of the last hidden layer's value to the first's."""
    s = stats[activation, name][key]
    return s[-1] / s[0]


for act in ("tanh", "relu"):
    print(f"{act}: last / first layer spread of activations: "
          + ", ".join(f"{name} {growth(act, name):.3g}" for name in INITS))
assert growth("relu", "normal") > 100 and growth("relu", "xavier") < 0.3 and 0.5 < growth("relu", "he") < 2
assert np.mean(stats["tanh", "normal"]["blocked"]) > 0.3 > np.mean(stats["tanh", "xavier"]["blocked"])
assert growth("tanh", "xavier") < growth("tanh", "xavier, gain 5/3")

# %% [markdown]
# ## Training curves
#
# Statistics at the start are a prediction; training is the test. A harder task than the moons, so that
# every layer has to contribute: two interleaved spirals (200 points). The same deep networks, the same
# optimiser for all (SGD with momentum 0.9, learning rate 0.02, full batch, 150 steps), three seeds per
# initialisation. Reported: the final training accuracy and the first step at which the training accuracy
# reached 95% (a dash if it never did). The steps run in the engine's compiled batch mode
# (`autograd.compile`, the same derivative rules replayed over the batch with numpy).

# %%
X_spirals, y_spirals = nn.make_spirals(200, n_classes=2, noise=0.05, seed=1)
X_spirals = 2 * X_spirals  # radius up to 2, so the inputs are of order 1
SEEDS, EPOCHS = (0, 1, 2), 150


def train_deep(activation, init, seed):
    """Full-batch SGD with momentum; each step's loss and gradients from the compiled batch mode."""
    model = deep_model(activation, init, seed)
    opt = nn.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loss_fn = autograd.compile(lambda x, t: F.binary_cross_entropy_with_logits(model(x), t))
    score = autograd.compile(lambda x: model(x))
    history = nn.History()
    for _ in range(EPOCHS):
        opt.zero_grad()
        history.loss.append(loss_fn.backward(X_spirals, y_spirals))  # the mean over the batch
        history.accuracy.append(float(np.mean((score(X_spirals) > 0) == (y_spirals == 1))))
        opt.step()
    return history


def first_step_at(history, level=0.95):
    return next((k for k, a in enumerate(history.accuracy) if a >= level), None)


curves = {(act, name): [train_deep(act, init, seed) for seed in SEEDS] for act in ("tanh", "relu")
          for name, init in INITS.items()}
for act in ("tanh", "relu"):
    print(f"{act} network: final accuracy, first step at 95%, for seeds {list(SEEDS)}")
    for name in INITS:
        cells = [f"{h.accuracy[-1]:>5.0%} {first_step_at(h) if first_step_at(h) is not None else '-':>4}"
                 for h in curves[act, name]]
        print(f"{name:>18}   " + "   ".join(cells))

fig, axes = plt.subplots(1, 2, sharey=True)
for ax, act in zip(axes, ("tanh", "relu")):
    for i, name in enumerate(INITS):
        for k, h in enumerate(curves[act, name]):
            ax.plot(h.loss, color=f"C{i}", alpha=0.8, lw=1, label=name if k == 0 else None)
    ax.set(yscale="log", xlabel="step", title=f"{act}: training loss, 3 seeds each", ylim=(1e-3, 3))
axes[0].set_ylabel("binary cross-entropy")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# What the runs show (each claim is checked in the next cell):
#
# - ReLU + `normal` never trains: the exploded activations give huge logits and gradients, and the first
#   steps throw the network into a state it does not recover from.
# - ReLU + `he` reaches 95% on every seed; ReLU + `xavier`, whose signal and gradients shrink with depth, is
#   slower or does not get there within the 150 steps (a dash).
# - tanh + `xavier` at gain 1 is the slowest tanh run: its activations and gradients fade with depth. The
#   gain 5/3 (or He's variance, close to it here) trains several times faster.
# - The initialisation that keeps the scale exactly is not always the fastest: on ReLU, `xavier, gain 5/3`
#   (variance about 0.17, against He's 0.125) trains faster here, while its activations already grow with
#   depth (the last / first ratio printed above). Xavier and He do not tune speed; they pick, from the fans
#   alone, a spread at which any depth and width start out neither exploding nor vanishing. How much
#   larger still works shrinks as the network gets deeper.

# %%
def median_first_step(act, name):
    steps = [first_step_at(h) for h in curves[act, name]]
    return np.median([EPOCHS if s is None else s for s in steps])


for act in ("tanh", "relu"):
    print(f"{act}: median first step at 95%: "
          + ", ".join(f"{name} {median_first_step(act, name):.0f}" for name in INITS))
assert all(h.accuracy[-1] <= 0.6 for h in curves["relu", "normal"])
assert all(first_step_at(h) is not None for h in curves["relu", "he"])
assert median_first_step("relu", "xavier") > median_first_step("relu", "he")
assert median_first_step("tanh", "xavier") > 2 * median_first_step("tanh", "xavier, gain 5/3")
assert median_first_step("relu", "xavier, gain 5/3") < median_first_step("relu", "he")

# %% [markdown]
# ## Summary
#
# - Constant (or zero) weights make every neuron of a layer compute, receive and apply the same thing: the
#   **symmetry problem**, not "asymmetry". Random initialisation breaks the symmetry.
# - The spread of the random weights decides whether the signal survives depth. Too large: tanh saturates,
#   ReLU explodes. Too small: everything fades, and so do the gradients.
# - Xavier (variance $1/\text{fan\_avg}$, with gain 5/3 for tanh) and He (variance $2/\text{fan\_in}$, for
#   ReLU) choose the spread from the layer's size so that activations and gradients keep their scale from
#   layer to layer. `nn.MLP` uses He uniform for ReLU layers and Xavier uniform otherwise by default.
