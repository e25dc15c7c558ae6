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
# 2. **Random normal or uniform** with a fixed spread, such as $\mathcal{N}(0, 1)$, micrograd's $U(-1, 1)$,
#    or the notes' $U(0, 1)$: the neurons differ, but whether the signal survives many layers depends on the
#    spread, the sign and the layer widths.
# 3. **Xavier / Glorot**: variance $2 / (\text{fan\_in} + \text{fan\_out})$ (that is $1/\text{fan\_avg}$),
#    designed to keep the scale of activations and gradients for tanh-like activations.
# 4. **He / Kaiming**: variance $2 / \text{fan\_in}$, for ReLU, which zeroes half of its inputs.
#
# After the symmetry problem, this notebook reproduces the two papers behind 3 and 4 with the engine:
# Glorot and Bengio (2010), the activations and back-propagated gradients of a deep tanh network layer by
# layer; and He et al. (2015), the variance of a deep ReLU network against depth, and a 30-layer network
# that trains from He's initialisation and not from Xavier's. Then it trains with a learning rate tuned for
# each initialisation, and measures the update-to-weight ratio that practitioners watch.

# %%
import functools
import math
import random

import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn
from chainrule.nn.init import constant

F = nn.functional
plt.rcParams.update({
    "figure.dpi": 120, "figure.figsize": (10, 3.6), "font.size": 11, "legend.fontsize": 10,
    "axes.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3, "figure.constrained_layout.use": True,
})

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
                     epochs=epochs, progress=False, compiled=True)
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
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
pairs = [("constant init", sym_model, sym_history), ("random init", rnd_model, rnd_history)]
for ax, (title, m, h) in zip(axes, pairs):
    z = autograd.compile(lambda x, m=m: m(x))(grid)
    ax.contourf(xx, yy, (z > 0).reshape(xx.shape), cmap="coolwarm", alpha=0.35)
    ax.scatter(X_moons[:, 0], X_moons[:, 1], c=y_moons, cmap="coolwarm", s=10)
    ax.set(title=f"{title}: training accuracy {h.accuracy[-1]:.0%}", xlabel="x0", ylabel="x1")
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
# ## Glorot and Bengio: what goes forward and what comes back through a tanh network
#
# Glorot and Bengio's experiment: a tanh network of 5 hidden layers, one input pass, and histograms, per
# layer, of the activations going forward and of the gradients $\partial L / \partial h$ coming back. Here
# the layers are 32 wide, `MLP(32, [32] * 5 + [1], activation="tanh")`; the inputs are 60 random points of
# $\mathbb{R}^{32}$ (standard normal), labelled by the sign of a fixed random projection, with the binary
# cross-entropy as loss. Four initialisations (biases 0 in all):
#
# - Glorot's "standard" $U(-1/\sqrt{n}, 1/\sqrt{n})$ with $n$ the fan-in: variance $1/(3n)$, common before 2010;
# - Xavier (their proposal): $U(-a, a)$ with $a = \sqrt{6 / (n_\text{in} + n_\text{out})}$: variance $1/n$ here;
# - micrograd's $U(-1, 1)$: variance $1/3$ whatever the width;
# - the course notes' $U(0, 1)$: mean $1/2$, every weight positive.
#
# The engine runs the forward pass sample by sample and one `backward()`, so every activation and every
# gradient below is a node's `data` and `grad`.

# %%
WIDTH, LAYERS = 32, 5
data_rng = np.random.default_rng(0)
X_wide = data_rng.standard_normal((60, WIDTH))
y_wide = (X_wide @ data_rng.standard_normal(WIDTH) > 0).astype(int)


def glorot_standard(fan_in, fan_out, *, rng):
    """Glorot's 'standard' initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound)


TANH_INITS = {
    "standard U(±1/√n)": glorot_standard,
    "Xavier": "xavier_uniform",
    "U(-1, 1)": "uniform",
    "U(0, 1)": functools.partial(nn.init.uniform, low=0.0, high=1.0),
}


def layer_statistics(activation, init, X, y, layers=LAYERS, width=WIDTH):
    """Forward X sample by sample, backward from the mean BCE; per hidden layer, the activations' data and grad."""
    model = nn.MLP(X.shape[1], [width] * layers + [1], activation=activation, init=init, seed=0)
    hidden = [[] for _ in range(layers)]
    outputs = []
    for x in X.tolist():
        values = x
        for k, layer in enumerate(model.layers):
            values = layer(values)
            if k < layers:
                hidden[k].extend(values)
        outputs.append(values)
    F.binary_cross_entropy_with_logits(outputs, y.tolist()).backward()
    h = [np.array([v.data for v in layer]) for layer in hidden]
    g = [np.array([v.grad for v in layer]) for layer in hidden]
    weight_grad = [np.mean([abs(w.grad) for n in layer.neurons for w in n.w]) for layer in model.layers[:layers]]
    return {"h": h, "g": g, "act std": [a.std() for a in h], "saturated": [np.mean(np.abs(a) > 0.97) for a in h],
            "dead": [np.mean(a == 0) for a in h], "grad std": [a.std() for a in g], "weight grad": weight_grad}


tanh_stats = {name: layer_statistics("tanh", init, X_wide, y_wide) for name, init in TANH_INITS.items()}


def show(stats, keys):
    for name, s in stats.items():
        print(name)
        for key, fmt in keys:
            print(f"  {key:>12}" + "".join(f"{v:>10{fmt}}" for v in s[key]))


print(f"{'layer':>14}" + "".join(f"{k:>10}" for k in range(1, LAYERS + 1)))
show(tanh_stats, [("act std", ".3f"), ("saturated", ".0%"), ("grad std", ".1e"), ("weight grad", ".1e")])

# %%
fig, axes = plt.subplots(2, 4, figsize=(13, 6))
colours = plt.cm.viridis(np.linspace(0, 0.85, LAYERS))
for col, (name, s) in enumerate(tanh_stats.items()):
    span = 4 * max(s["grad std"])
    power = math.floor(math.log10(span))
    for k in range(LAYERS):
        counts, edges = np.histogram(s["h"][k], bins=np.linspace(-1, 1, 41), density=True)
        axes[0, col].stairs(counts, edges, color=colours[k], lw=1.5, label=f"layer {k + 1}")
        scaled = np.clip(s["g"][k], -span, span) / 10**power
        counts, edges = np.histogram(scaled, bins=np.linspace(-span, span, 41) / 10**power, density=True)
        axes[1, col].stairs(counts, edges, color=colours[k], lw=1.5)
    axes[0, col].set(title=name, xlabel="activation h")
    axes[1, col].set(xlabel=f"back-propagated dL/dh (× 1e{power})")
for ax in axes.ravel():
    ax.set_ylabel("density")
fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", title="hidden layer")
plt.show()

# %% [markdown]
# Read each column down: the top histogram is what the layers send forward, the bottom one what comes back.
#
# - **Standard** $U(\pm 1/\sqrt n)$, Glorot's figure: each layer multiplies the variance by about
#   $n \cdot \frac{1}{3n} = \frac13$ (tanh is nearly linear near 0), so the activations shrink layer after
#   layer (their spread falls more than fivefold from layer 1 to layer 5) and pile up at 0. The gradients
#   shrink the same way going *back*: layer 1, nearest the input, gets the smallest.
# - **Xavier** keeps both within a factor of 2.5 across the five layers: the variance $1/n$ makes the
#   factor per layer about 1 in both directions.
# - **$U(-1, 1)$** is too wide for 32 inputs: pre-activations of spread $\sqrt{32/3} \approx 3$ push about half
#   of the units into saturation ($|h| > 0.97$, where $\tanh' < 0.06$) in every layer.
# - **$U(0, 1)$**, the notes' choice, is the worst: with every weight positive, all units of a layer add up
#   nearly the same inputs, so they agree and saturate together. From layer 4 on over 99% of the units are
#   saturated, and the gradients reaching layers 1 to 3 are below $10^{-12}$: those layers cannot learn.
#
# The last row of each table, the mean $|\partial L / \partial w|$ of the layer's weights, is Glorot's own
# observation: it stays within a factor of 2 across layers even where $\partial L / \partial h$ changes more
# than fivefold. The weight gradient of layer $k$ is $\delta^{(k)} h^{(k-1)\top}$ (notebook 5), the product
# of the gradient arriving at layer $k$ and the activation leaving layer $k - 1$. Going up, activations are
# multiplied by about $n \operatorname{Var}(w)$ per layer; going down, gradients too; so in the product the
# two trends cancel. Flat weight gradients do not mean a healthy network: with the standard initialisation
# the signal itself is fading in both directions.

# %%
def spread(values):
    """The ratio of the largest to the smallest value."""
    return max(values) / min(values)


standard, xavier, wide, positive = tanh_stats.values()
assert standard["act std"][0] > 5 * standard["act std"][-1] and standard["grad std"][-1] > 5 * standard["grad std"][0]
assert spread(standard["weight grad"]) < 2 < 5 < spread(standard["grad std"])
assert spread(xavier["act std"]) < 2.5 and spread(xavier["grad std"]) < 2.5
assert all(0.4 < share < 0.6 for share in wide["saturated"])
assert all(share > 0.99 for share in positive["saturated"][3:]) and max(positive["grad std"][:3]) < 1e-12
first_weight_grads = [s["weight grad"][0] for s in (standard, xavier, wide)]
assert max(first_weight_grads) > 30 * min(first_weight_grads)  # initial gradients differ by orders of magnitude
print("checked: the claims above hold on these numbers")

# %% [markdown]
# ## He et al.: ReLU halves the variance, so double the weights' variance
#
# ReLU passes the positive half of its input and zeroes the rest, so it halves the second moment of a
# symmetric signal. He et al. follow the variance through the layers: with $n$ inputs per unit and weights
# of variance $\operatorname{Var}(w)$, each layer multiplies $E[h^2]$ by $\tfrac12 n \operatorname{Var}(w)$,
# so after $L$ more layers
#
# $$\frac{E[h_{L+1}^2]}{E[h_1^2]} = \left(\tfrac12\, n \operatorname{Var}(w)\right)^{L}.$$
#
# He's choice $\operatorname{Var}(w) = 2/n$ makes the factor exactly 1. Xavier's $1/n$ makes it $\tfrac12$;
# micrograd's $U(-1, 1)$ (variance $\tfrac13$) makes it $n/6$, and $\mathcal{N}(0, 1)$ makes it $n/2$.
# Below, ReLU networks 32 units wide and 32 layers deep, three seeds per initialisation, 200 random inputs:
# $E[h^2]$ of every layer, relative to the first. The weights are drawn by the library's own initialisers;
# the forward pass is done with numpy matrix products (the form of notebook 5, checked here against the
# engine on one network).

# %%
DEEP, N_INPUTS = 32, 200
X_deep = np.random.default_rng(1).standard_normal((N_INPUTS, WIDTH))
RELU_INITS = {  # name: (initialiser, its variance for fan_in = fan_out = n)
    "Xavier": (nn.init.xavier_uniform, lambda n: 1 / n),
    "He": (nn.init.he_uniform, lambda n: 2 / n),
    "U(-1, 1)": (nn.init.uniform, lambda n: 1 / 3),
    "N(0, 1)": (nn.init.normal, lambda n: 1.0),
}


def draw_weights(init, seed, depth=DEEP, width=WIDTH):
    """depth square weight matrices drawn by an nn.init initialiser, row by row as nn.Layer draws them."""
    rng = random.Random(seed)
    return [np.array([[init(width, width, rng=rng) for _ in range(width)] for _ in range(width)]) for _ in range(depth)]


def second_moments(weights, X):
    """E[h^2] of every ReLU layer's output (biases 0)."""
    moments, h = [], X
    for W in weights:
        h = np.maximum(h @ W.T, 0.0)
        moments.append(np.mean(h**2))
    return np.array(moments)


# One check against the engine: a 6-layer network's outputs, numpy against nn.Layer.
check_weights = draw_weights(nn.init.he_uniform, 7, depth=6)
check_net = nn.MLP(WIDTH, [WIDTH] * 6, final_activation="relu", init="zeros")
check_net.load_state_dict({f"layers.{k}.neurons.{j}.w.{i}": check_weights[k][j, i]
                           for k in range(6) for j in range(WIDTH) for i in range(WIDTH)}, strict=False)
with autograd.no_grad():
    engine_out = np.array([[v.data for v in check_net(x)] for x in X_deep[:5].tolist()])
numpy_out = X_deep[:5]
for W in check_weights:
    numpy_out = np.maximum(numpy_out @ W.T, 0.0)
print(f"numpy against the engine, 6 layers, 5 inputs: largest difference {np.max(np.abs(engine_out - numpy_out)):.1e}")
assert np.allclose(engine_out, numpy_out, rtol=1e-12, atol=1e-12)

ratios = {name: np.array([(m := second_moments(draw_weights(init, seed), X_deep)) / m[0] for seed in range(3)])
          for name, (init, _) in RELU_INITS.items()}
predicted = {name: (0.5 * WIDTH * var(WIDTH)) ** np.arange(DEEP) for name, (_, var) in RELU_INITS.items()}
print(f"{'':>10} {'factor per layer':>17} {'predicted at 32':>16} {'measured at 32 (3 seeds)':>34}")
for name in RELU_INITS:
    per_layer = predicted[name][1]
    print(f"{name:>10} {per_layer:>17.3g} {predicted[name][-1]:>16.2g} "
          + " ".join(f"{r:>10.2g}" for r in ratios[name][:, -1]))

fig, ax = plt.subplots(figsize=(9, 4.2))
for k, name in enumerate(RELU_INITS):
    for seed in range(3):
        ax.semilogy(range(1, DEEP + 1), ratios[name][seed], color=f"C{k}", lw=1, alpha=0.8,
                    label=f"{name}, measured (3 seeds)" if seed == 0 else None)
    ax.semilogy(range(1, DEEP + 1), predicted[name], color=f"C{k}", ls="--", lw=2,
                label=f"{name}: (n Var(w) / 2)^L")
ax.set(xlabel="layer", ylabel="E[h²] relative to layer 1 (log scale)", title="ReLU, 32 units wide: depth sweep",
       xticks=[1, 4, 8, 12, 16, 20, 24, 28, 32])
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()

log_gap = {name: np.log10(ratios[name] / predicted[name]) for name in RELU_INITS}
for name in RELU_INITS:
    print(f"{name:>10}: measured / predicted at layers 4, 8, 16, 32 (median of 3 seeds): "
          + ", ".join(f"{10 ** np.median(log_gap[name][:, layer - 1]):.2g}" for layer in (4, 8, 16, 32)))
same_wobble = all(np.allclose(log_gap[name], log_gap["He"], rtol=0, atol=1e-9) for name in ("Xavier", "U(-1, 1)"))
print(f"Xavier, He and U(-1, 1) wobble identically around their predictions: {same_wobble}")
assert all(np.all(np.abs(log_gap[name]) < 2.5) for name in RELU_INITS) and same_wobble
assert predicted["N(0, 1)"][-1] / predicted["Xavier"][-1] > 1e46

# %% [markdown]
# Over 32 layers the four predictions fan out across about 47 orders of magnitude, and every measured curve
# follows its own: Xavier loses half the signal's second moment per layer, $\mathcal{N}(0, 1)$ multiplies it
# by 16, micrograd's $U(-1, 1)$ by about 5, He keeps it level. At every layer and seed the measurement stays
# within a factor of about 300 ($10^{2.5}$) of the prediction, a small wobble on this scale. The wobble
# grows with depth and tends downwards: the formula is an average over random weights, while one network
# multiplies 31 random per-layer factors, whose typical product is a little below their average. Wider
# layers would make the factors less random.
#
# Xavier, He and $U(-1, 1)$ even wobble identically. All three are uniform and, from the same seed, draw the
# same random numbers, only scaled by a different constant. With biases at 0, a ReLU network scaled that way
# computes exactly the scaled output, since $\text{relu}(cz) = c\,\text{relu}(z)$ for $c > 0$: which units are
# zero, and the shape of every layer's signal, depend on the random directions, not on the scale. The scale
# only sets the factor per layer, which is what the initialisation has to get right.

# %% [markdown]
# ## A 30-layer ReLU network: Xavier stalls, He trains
#
# He et al.'s Figure 3: a 30-layer ReLU network trains from their initialisation and does not move from
# Xavier's. The same here, on an easy task so that depth is the only difficulty: two Gaussian blobs (100
# points, centres $(-1, -1)$ and $(1, 1)$, spread 0.6). `MLP(2, [16] * 30 + [1])`, binary cross-entropy,
# 40 steps of full-batch SGD with momentum 0.9 in the engine's compiled batch mode: He from three seeds at a
# learning rate of 0.01; Xavier at 0.001, 0.01 and 0.1, in case it only needs another rate (seed 0: its
# stall does not depend on the draw, as the depth sweep showed, only on the scale).
# Also recorded: each layer's **update-to-weight ratio**, the spread of the change one step makes to a
# layer's weights over the spread of the weights, $\operatorname{std}(\Delta w) / \operatorname{std}(w)$.
# A common rule of thumb (Karpathy's) puts a healthy value near $10^{-3}$.

# %%
RATES = [0.001, 0.01, 0.1]
X_blobs, y_blobs = nn.make_blobs(100, centers=[[-1, -1], [1, 1]], cluster_std=0.6, seed=3)


def layer_slices(model):
    """Where each layer's weights sit in the flat list of parameters (biases excluded)."""
    names = [name for name, _ in model.named_parameters()]
    return [[i for i, name in enumerate(names) if name.startswith(f"layers.{k}.") and ".w." in name]
            for k in range(len(model.layers))]


def train_deep(activation, init, lr, seed, depth, steps, X=X_moons, y=y_moons, updates=False, accuracy=False):
    """Full-batch SGD with momentum 0.9 on (X, y), compiled: the loss of every step and the final accuracy;
    optionally each layer's update-to-weight ratio at every step, and the first step (checked every 5) at
    which the training accuracy reached 100%."""
    model = nn.MLP(2, [16] * depth + [1], activation=activation, init=init, seed=seed)
    params = model.parameters()
    loss_fn = autograd.compile(lambda x, t: F.binary_cross_entropy_with_logits(model(x), t))
    score = autograd.compile(lambda x: model(x))
    opt = nn.optim.SGD(params, lr=lr, momentum=0.9)
    slices = layer_slices(model) if updates else []
    history = {"loss": [], "updates": [], "first_perfect": None}
    for step in range(steps):
        before = np.fromiter((p.data for p in params), float, len(params)) if updates else None
        opt.zero_grad()
        history["loss"].append(loss_fn.backward(X, y))
        opt.step()
        if updates:
            after = np.fromiter((p.data for p in params), float, len(params))
            history["updates"].append([np.std(after[s] - before[s]) / np.std(before[s]) for s in slices])
        if accuracy and history["first_perfect"] is None and step % 5 == 4 and np.all((score(X) > 0) == (y == 1)):
            history["first_perfect"] = step + 1
    history["accuracy"] = float(np.mean((score(X) > 0) == (y == 1)))
    return history


def tune(activation, init, depth, steps, seeds=(1, 2), rates=(0.01, 0.1)):
    """The best of the rates on seed 0 (lowest final loss), then the other seeds at that rate."""
    trials = {lr: train_deep(activation, init, lr, 0, depth, steps, accuracy=True) for lr in rates}
    finite = {lr: h["loss"][-1] for lr, h in trials.items() if math.isfinite(h["loss"][-1])}
    best = min(finite, key=finite.get) if finite else rates[0]
    runs = [trials[best]] + [train_deep(activation, init, best, seed, depth, steps, accuracy=True) for seed in seeds]
    return {"lr": best, "trials": trials, "runs": runs}


blobs = {"X": X_blobs, "y": y_blobs}
xavier_trials = {lr: train_deep("relu", "xavier_uniform", lr, 0, 30, 40, updates=lr == 0.01, **blobs) for lr in RATES}
deep30 = {
    "Xavier": [xavier_trials[0.01]],
    "He": [train_deep("relu", "he_uniform", 0.01, seed, 30, 40, updates=seed == 0, **blobs) for seed in (0, 1, 2)],
}
print("Xavier, seed 0, final loss at lr 0.001 / 0.01 / 0.1: "
      + " / ".join(f"{h['loss'][-1]:.4f}" for h in xavier_trials.values()))
for name, runs_ in deep30.items():
    print(f"{name}, lr 0.01, seeds 0, 1, 2: "
          + ", ".join(f"loss {h['loss'][-1]:.4f} (accuracy {h['accuracy']:.0%})" for h in runs_))
micro30 = nn.MLP(2, [16] * 30 + [1], init="uniform", seed=0)
first_loss = autograd.compile(lambda x, t: F.binary_cross_entropy_with_logits(micro30(x), t)).backward(X_blobs, y_blobs)
print(f"U(-1, 1), 30 layers: the first loss is already {first_loss:.3g} (ln 2 = {math.log(2):.3f})")

xavier_losses = [h["loss"][-1] for h in xavier_trials.values()]
he_losses = [h["loss"][-1] for h in deep30["He"]]
assert all(abs(loss - math.log(2)) < 1e-3 for loss in xavier_losses) and max(he_losses) < 0.3
assert all(h["accuracy"] >= 0.95 for h in deep30["He"]) and all(h["accuracy"] == 0.5 for h in xavier_trials.values())
assert first_loss > 1000

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
for k, (name, runs_) in enumerate(deep30.items()):
    for j, h in enumerate(runs_):
        ax1.plot(h["loss"], color=f"C{k}", lw=1.2,
                 label=(f"{name}, lr = 0.01 ({len(runs_)} seeds)" if len(runs_) > 1 else f"{name}, lr = 0.01")
                 if j == 0 else None)
    updates = np.array(runs_[0]["updates"])
    for style, layer in zip(("-", "--", ":"), (0, 14, 29)):
        ax2.semilogy(updates[:, layer], color=f"C{k}", ls=style, lw=1.2, label=f"{name}, layer {layer + 1}")
ax1.axhline(math.log(2), color="k", lw=0.8, ls=":")
ax1.set(xlabel="step", ylabel="binary cross-entropy", title="30 ReLU layers: loss (dotted: ln 2)")
ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
ax2.axhline(1e-3, color="k", lw=1, ls="-.")
ax2.set(xlabel="step", ylabel="std(update) / std(weights) (log scale)", title="update-to-weight ratio (seed 0)")
ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()

update_median = {name: np.median(np.array(runs_[0]["updates"])) for name, runs_ in deep30.items()}
print("median update-to-weight ratio over all layers and steps: "
      + ", ".join(f"{name} {value:.1e}" for name, value in update_median.items()))
assert 1e-8 < update_median["Xavier"] < 1e-6 and 1e-4 < update_median["He"] < 1e-2

# %% [markdown]
# From Xavier's initialisation the loss sits at $\ln 2 = 0.693$ for all 40 steps, at every learning rate
# tried: 30 halvings of the signal's second moment leave the output a constant, and the gradients that come
# back are as small. Its update-to-weight ratios are far below $10^{-3}$ (the dash-dot line; the median is
# about $10^{-7}$): the weights barely move, and the accuracy stays at 50%. From He's, every seed trains
# (final loss below 0.3, accuracy at least 95%), with a median ratio within a factor of ten of $10^{-3}$.
# Micrograd's $U(-1, 1)$ cannot even start: after 30 layers that multiply the second moment by about 5 each,
# its first loss is above 1000. With 30 layers, the spread of the initial weights has to be right within a
# factor of about 2.

# %% [markdown]
# ## Moderate depth, a learning rate tuned for each initialisation
#
# At 30 layers only He works. At 8 layers the choice is wider, and a fair comparison gives each
# initialisation its own learning rate: their gradients differ by orders of magnitude at the start (the
# first layer's mean $|\partial L / \partial w|$ in the tables above ranges over a factor of more than 30),
# so one shared rate would be too large for some and too small for others.
# `MLP(2, [16] * 8 + [1])`, tanh and ReLU, 60 steps of SGD with momentum 0.9 on the moons, for micrograd's
# $U(-1, 1)$, Xavier and He: the learning rate with the lowest final loss of 0.01 and 0.1 on seed 0, then
# seeds 1 and 2 at that rate. Reported: the tuned rate, the final accuracy of the three seeds, and the first
# step (checked every 5) at which the training accuracy reached 100%. The notes' $U(0, 1)$ gets both rates
# on seed 0.

# %%
MODERATE_INITS = {"U(-1, 1)": "uniform", "Xavier": "xavier_uniform", "He": "he_uniform"}
U01 = functools.partial(nn.init.uniform, low=0.0, high=1.0)
moderate = {(act, name): tune(act, init, 8, 60) for act in ("tanh", "relu") for name, init in MODERATE_INITS.items()}
positive_only = {act: {lr: train_deep(act, U01, lr, 0, 8, 60) for lr in (0.01, 0.1)} for act in ("tanh", "relu")}


def first_perfect(result):
    return [h["first_perfect"] for h in result["runs"]]


for act in ("tanh", "relu"):
    print(f"{act}, 8 layers: {'tuned lr':>9} {'accuracy, 3 seeds':>22} {'first step at 100%':>22}")
    for name in MODERATE_INITS:
        result = moderate[act, name]
        accs = " / ".join(f"{h['accuracy']:.0%}" for h in result["runs"])
        steps_ = " / ".join("-" if s is None else str(s) for s in first_perfect(result))
        print(f"{name:>17} {result['lr']:>9} {accs:>22} {steps_:>22}")
    print(f"{'U(0, 1)':>17}: final loss at lr 0.01 / 0.1 (seed 0): "
          + " / ".join(f"{h['loss'][-1]:.3f}" for h in positive_only[act].values())
          + "; accuracy " + " / ".join(f"{h['accuracy']:.0%}" for h in positive_only[act].values()))


def median_steps(act, name):
    """The median over the three seeds of the first step at 100% (61 if never within the 60 steps)."""
    return np.median([61 if s is None else s for s in first_perfect(moderate[act, name])])


def seeds_at_100(act, name):
    return sum(h["accuracy"] == 1.0 for h in moderate[act, name]["runs"])


for act in ("tanh", "relu"):
    print(f"{act}: median first step at 100%: "
          + ", ".join(f"{name} {median_steps(act, name):.0f}" for name in MODERATE_INITS))
assert median_steps("tanh", "U(-1, 1)") < min(median_steps("tanh", "Xavier"), median_steps("tanh", "He"))
assert median_steps("relu", "U(-1, 1)") <= median_steps("relu", "He") < 61 == median_steps("relu", "Xavier")
assert seeds_at_100("relu", "Xavier") == 0 and seeds_at_100("tanh", "Xavier") == 3
assert all(h["accuracy"] < 0.7 for runs_ in positive_only.values() for h in runs_.values())

# %% [markdown]
# With a learning rate of its own, every initialisation that keeps the signal alive trains this 8-layer
# network, and the ranking is not the one the theory of the previous sections might suggest:
#
# - On **tanh**, micrograd's $U(-1, 1)$ reaches 100% first (the smallest median first step), though half its
#   units start saturated. Xavier reaches 100% on all three seeds, more slowly.
# - On **ReLU**, $U(-1, 1)$ is at least as fast as He (by the median), and Xavier, whose signal halves at
#   every layer, reaches 100% on no seed within the 60 steps.
# - The notes' **$U(0, 1)$** stays below 70% at every rate, on both activations: its units start saturated
#   and identical in sign, as the histograms showed.
# - Single runs vary: the table shows seeds of the fastest initialisations that never reach 100%. These are
#   medians of three seeds, and a different machine's rounding can reorder close single runs; the
#   statements above are the ones that hold on the medians.
#
# So larger-than-He weights help a shallow network learn faster (bigger initial gradients and outputs,
# notebook 6 saw the same), and fail at depth: $U(-1, 1)$ explodes at 30 layers. Xavier and He do not tune
# speed; they choose, from the fans alone, a spread at which a network of any depth starts out neither
# exploding nor vanishing. How much larger still works shrinks as the network gets deeper: at 8 layers a
# variance 2.7 times He's (in the hidden layers) trains fastest, at 30 layers it explodes.

# %% [markdown]
# ## The course notes' claims on this question
#
# Every claim the course notes make about question 3 (how weights are initialised), with a verdict and the
# section above that shows it.
#
# - **Question 3.** With zero or constant weights every neuron of a layer stays identical. **Right.** After
#   150 steps the neurons of each layer differ by exactly 0.0, and with zeros only the output bias learns.
#   *Shown in: Constant initialisation: the symmetry problem.*
# - **Question 3.** The problem of identical initial weights is "asymmetry". **Wrong.** It is too much
#   symmetry; random weights break it. *Shown in: Constant initialisation: the symmetry problem.*
# - **Question 3.** Random normal or uniform weights (a fixed spread). **Partly right.** They break the
#   symmetry, but whether the signal survives depends on the spread: $\mathcal{N}(0, 1)$ multiplies a ReLU
#   network's second moment by 16 per layer, $U(-1, 1)$ trains 8 layers fastest and explodes at 30.
#   *Shown in: He et al.; A 30-layer ReLU network; Moderate depth.*
# - **Question 3.** Weights drawn from $U(0, 1)$. **Wrong.** All-positive weights make the units of a layer
#   agree: a 5-layer tanh network is over 99% saturated from layer 4, its first layers get gradients below
#   $10^{-12}$, and an 8-layer network from it stays below 70% at both rates tried.
#   *Shown in: Glorot and Bengio; Moderate depth.*
# - **Question 3.** Xavier / Glorot, variance $1/\text{fan\_avg}$. **Right**, for tanh: activations and
#   gradients stay within a factor of 2.5 over five layers. On ReLU it halves the signal per layer, and a
#   30-layer ReLU network does not train from it. *Shown in: Glorot and Bengio; A 30-layer ReLU network.*
# - **Question 3.** He / Kaiming, variance $2/\text{fan\_in}$, for ReLU. **Right.** The factor per layer is
#   1, and the 30-layer ReLU network trains from it on every seed. *Shown in: He et al.; A 30-layer ReLU
#   network.*

# %% [markdown]
# ## Summary
#
# - Constant (or zero) weights make every neuron of a layer compute, receive and apply the same thing: the
#   **symmetry problem**, not "asymmetry". Random initialisation breaks the symmetry.
# - Each layer multiplies the signal's variance by about $n \operatorname{Var}(w)$ (tanh, near 0) or
#   $\tfrac12 n \operatorname{Var}(w)$ (ReLU), going forward and, for the gradients, going back. Xavier
#   ($1/\text{fan\_avg}$) makes the first factor 1, He ($2/\text{fan\_in}$) the second: measured over 32
#   layers against the prediction.
# - Too small a spread fades (a 30-layer ReLU network from Xavier stays at $\ln 2$, and each step changes its
#   weights by about $10^{-7}$ of their spread); too large explodes or saturates; all-positive $U(0, 1)$
#   saturates everything.
# - At moderate depth, with a learning rate tuned for each, several initialisations train, and micrograd's
#   $U(-1, 1)$ is fast; at depth only the right scale works.
# - `nn.MLP` uses He uniform for ReLU layers and Xavier uniform otherwise by default.
