# Source of notebooks/01_neuron.ipynb (built and executed by notebooks/_build.py).

# %% [markdown]
# # 1. What is a neuron?
#
# A neuron takes inputs $x_1, \dots, x_n$, multiplies each by a weight, adds a bias, and passes the sum
# through an **activation** function:
#
# $$o = f(w_1 x_1 + \dots + w_n x_n + b) = f(\mathbf{w} \cdot \mathbf{x} + b)$$
#
# The weights and the bias are its parameters (what training changes); $z = \mathbf{w} \cdot \mathbf{x} + b$
# is its pre-activation; $f$ is tanh, sigmoid, ReLU or another non-linearity. This notebook builds one with
# the engine and checks, one by one, what the course notes say about neurons: whether a neuron "stores a
# value" or "computes a function", whether its sum is an average, where its activation sits, what input
# neurons do, and whether neurons are pixels. Then it measures what the usual activations do to the output
# and to the gradient, and why a network needs them at all: without a non-linearity, any stack of layers is
# one straight line, and cannot learn XOR.

# %%
import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn, viz
from chainrule.autograd import Value

F = nn.functional
plt.rcParams.update({
    "figure.dpi": 120, "figure.figsize": (10, 3.6), "font.size": 11, "legend.fontsize": 10,
    "axes.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3, "figure.constrained_layout.use": True,
})

# %% [markdown]
# ## One neuron, by hand and as `nn.Neuron`
#
# micrograd's classic example: two inputs, two weights, a bias chosen so that the output is a round number,
# and tanh.

# %%
x1, x2 = Value(2.0, "x1"), Value(0.0, "x2")
w1, w2 = Value(-3.0, "w1"), Value(1.0, "w2")
b = Value(6.8813735870195432, "b")
z = x1 * w1 + x2 * w2 + b
z.label = "z"
o = z.tanh()
o.label = "o"
print(o)
assert abs(o.data - 2**-0.5) < 1e-12

# %% [markdown]
# `nn.Neuron` computes the same thing, with the weighted sum and the bias as **one** node
# (`autograd.dot(w, x, bias=b)`), whose local derivatives are exactly the factors of the chain rule:
# $\partial z / \partial w_i = x_i$, $\partial z / \partial x_i = w_i$, $\partial z / \partial b = 1$.

# %%
neuron = nn.Neuron(2, activation="tanh")
neuron.load_state_dict({"w.0": -3.0, "w.1": 1.0, "b": 6.8813735870195432})
out = neuron([Value(2.0, "x1"), Value(0.0, "x2")])
pre = out.parents[0]
print(neuron, "->", out)
print(f"its pre-activation node: op {pre.op!r}, {len(pre.parents)} inputs")
for parent, local in zip(pre.parents, pre.local_grads):
    print(f"  d z / d {parent.label or parent.role:>9} = {local:+.4f}")
assert out.data == o.data and pre.op == "dot" and len(pre.parents) == 5

# %% [markdown]
# ## A weighted sum, not a weighted average
#
# One note calls the neuron's sum a "weighted average". An average of the inputs always lies between the
# smallest and the largest input, because its weights are positive and add up to 1. A neuron's weights are
# neither: they can be negative, they add up to anything, and a bias is added on top. With the weights above:

# %%
inputs, weights = [2.0, 0.0], [-3.0, 1.0]
weighted_sum = sum(w * x for w, x in zip(weights, inputs))
print(f"inputs {inputs}, weights {weights} (they add up to {sum(weights)})")
print(f"w . x = {weighted_sum}, outside [{min(inputs)}, {max(inputs)}], where every average of the inputs lies")
print(f"w . x + b = {weighted_sum + b.data:.4f}; the pre-activation z above: {z.data:.4f}")
assert not min(inputs) <= weighted_sum <= max(inputs) and abs(weighted_sum + b.data - z.data) < 1e-12

# %% [markdown]
# The sum is $-6$, three times the largest input and of the other sign: no average gives that. A neuron
# computes a weighted **sum** plus a bias; training chooses the weights freely, signs included.

# %% [markdown]
# ## Does a neuron "store a value" or "compute a function"?
#
# The notes disagree; both describe something real, at different moments.
#
# - **It computes a function.** The parameters $\mathbf{w}, b$ fix a function $o(\mathbf{x})$ defined for
#   *every* input. That is what the neuron *is*, and what it keeps between inputs: training changes the
#   function by changing $\mathbf{w}$ and $b$.
# - **It stores a value.** During one forward pass, for *one* input, the neuron holds a number: its
#   activation $o$, the node's `data`. The next layer reads it, and the backward pass needs it (tanh's local
#   derivative is $1 - o^2$, computed from the stored output). After `backward()` the node also stores its
#   gradient. Feed another input and you get another value from the same function.
#
# Below, the same neuron seen both ways: the function over a grid of inputs (left: its output for every
# $(x_1, x_2)$; right: a slice along $x_1$ with $x_2 = 0$), and the value stored for the input $(2, 0)$, which
# is one point on that function.

# %%
o.backward()
grid1, grid2 = np.meshgrid(np.linspace(-4, 4, 81), np.linspace(-4, 4, 81))
with autograd.no_grad():
    surface = np.array([[neuron([a, c]).data for a, c in zip(r1, r2)] for r1, r2 in zip(grid1, grid2)])
    slice_x1 = np.linspace(-4, 4, 161)
    slice_o = [neuron([a, 0.0]).data for a in slice_x1]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4))
im = ax1.contourf(grid1, grid2, surface, levels=21, cmap="RdBu_r", vmin=-1, vmax=1)
ax1.contour(grid1, grid2, surface, levels=[0], colors="k", linewidths=1)
ax1.plot([x1.data], [x2.data], "k*", ms=12)
ax1.annotate(f"stored: o = {o.data:.4f}", (x1.data, x2.data), (-3.5, 2.6), arrowprops={"arrowstyle": "->"},
             bbox={"boxstyle": "round", "fc": "white"})
ax1.set(xlabel="x1", ylabel="x2", title="the function o(x1, x2) = tanh(w . x + b)")
fig.colorbar(im, ax=ax1, label="neuron output o")
ax2.plot(slice_x1, slice_o, label="o(x1, x2 = 0)")
ax2.plot([x1.data], [o.data], "k*", ms=12, label=f"the value for x = (2, 0): {o.data:.4f}")
slope = x1.grad  # d o / d x1 at the stored point, from backward()
near = np.linspace(x1.data - 0.4, x1.data + 0.4, 9)
ax2.plot(near, o.data + slope * (near - x1.data), "--", lw=2, label=f"slope there (x1.grad): {slope:.4f}")
ax2.set(xlabel="x1", ylabel="o(x1, x2 = 0)", title="a slice of the function", ylim=(-1.1, 1.1))
ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()
print("stored on the output node after backward():", o)
print(f"gradients stored on the leaves: x1 {x1.grad:.4f}, x2 {x2.grad:.4f}, w1 {w1.grad:.4f}, "
      f"w2 {w2.grad:.4f}, b {b.grad:.4f}")
assert w2.grad == 0.0 and abs(x1.grad + 1.5) < 1e-12 and abs(w1.grad - 1.0) < 1e-12

# %% [markdown]
# The black line on the left is where $\mathbf{w} \cdot \mathbf{x} + b = 0$: a single neuron splits its
# input space with a straight line (a hyperplane), and the activation only shapes how the output changes
# across it. The star is the one value stored for the input $(2, 0)$; the dashed line is the gradient the
# backward pass stored there, the local slope of the function. So: a neuron *is* a function (kept in its
# parameters) and, while a particular input passes through it, *holds* a value (and then a gradient).

# %% [markdown]
# ## The neuron's gradient flow
#
# `viz.draw` draws the graph the engine recorded for $o$, after `backward()`. Each box is a node with its
# value (`data`) and its gradient $\partial o / \partial \text{node}$ (`grad`); each edge carries the chain
# rule's term: the local derivative $\partial$ recorded by the consumer, times the consumer's gradient $g$,
# giving the gradient that flows into the parent ($\to$). The colour shows $|\text{grad}|$ on a log scale.

# %%
viz.draw(o)

# %% [markdown]
# Read it from the right. The seed is $\partial o / \partial o = 1$. tanh's local derivative is
# $1 - o^2 = 0.5$, so $z$ gets 0.5. Additions pass the gradient unchanged (local derivative 1), so every
# term of the sum gets 0.5 too. A product hands each factor the *other* factor: $w_1$ gets
# $x_1 \cdot 0.5 = 1$ and $x_1$ gets $w_1 \cdot 0.5 = -1.5$. Since $x_2 = 0$, the local derivative
# $\partial (x_2 w_2) / \partial w_2 = x_2 = 0$ **blocks** the edge (dashed): $w_2$ gets no gradient and
# is drawn as cut off: with this input, changing $w_2$ does not change the output at all.
#
# The same neuron as `nn.Neuron` is one `dot` node with an edge per weight, input and the bias, each
# carrying its term:

# %%
out.backward()
viz.draw(out)

# %% [markdown]
# ## Where the activation sits, and what input neurons do
#
# Two more claims from the notes. One says the activation is "placed outside the neuron"; another that input
# neurons take the input and "process it through activation function". The engine's record of a small
# network, `MLP(2, [3, 1])` with tanh, settles both: below, every node it made for one input, with the op that
# made it and the module it was made in (its `scope`).

# %%
net = nn.MLP(2, [3, 1], activation="tanh", seed=0)
xs = [Value(0.5, "x0"), Value(-1.0, "x1")]
net_out = net(xs)
nodes = [v for v in autograd.topological_order(net_out) if v.role != "parameter"]
for v in nodes:
    print(f"{v.label or '':>4} op {v.op or '(leaf)':>6}, made in {v.scope or '(outside every module)'}")
consumers = {id(x): [v.op for v in nodes if any(p is x for p in v.parents)] for x in xs}
print("what the inputs feed:", {x.label: consumers[id(x)] for x in xs})
per_neuron = {}
for v in nodes:
    if v.op:
        per_neuron.setdefault(v.scope, []).append(v.op)
print("ops per neuron:", per_neuron)
assert all(x.op == "" and x.scope is None and set(consumers[id(x)]) == {"dot"} for x in xs)
assert all(ops == ["dot", "tanh"] for scope, ops in per_neuron.items() if scope.startswith("layers.0"))

# %% [markdown]
# The same network in the network view (`viz.draw(..., view="network")`, the course notes' picture, after a
# `backward()` from the output): the inputs are the dashed column on the left, plain numbers with no
# activation and no bias; each circle of the hidden layer is one neuron, sum and tanh together, showing its
# output (bold) and its gradient (italics); each edge is one weight, labelled with $\partial L / \partial w$.

# %%
net_out.backward()
viz.draw(net_out, view="network")

# %% [markdown]
# - **Input neurons** are the inputs themselves: leaves with no op, made outside every module, feeding the
#   first layer's weighted sums directly. Nothing is applied to them, no activation, no weight: the "input
#   layer" has no parameters (`MLP(2, ...)` has none for its 2 inputs). The claim that they process the input
#   through an activation is wrong.
# - **The activation** is a separate node after the weighted sum (`dot`, then `tanh`), so in the graph it is
#   indeed outside the sum. But both nodes are made inside the same neuron (the same scope), and the neuron's
#   output is the activation's output. "Outside the neuron" is right about the graph's bookkeeping and wrong
#   about the neuron: a neuron is sum *and* activation.

# %% [markdown]
# ## Neurons and pixels
#
# A note pictures neurons as pixels. For an image, the **input** neurons are indeed the pixels, one per pixel
# value. A **hidden** neuron is not: it computes a weighted sum over *all* of them. A 3 × 3 image, flattened
# into 9 inputs, through one hidden neuron: its gradient with respect to every pixel comes out non-zero
# (it is $w_k (1 - o^2)$ for pixel $k$), and its weights, laid out on the grid, form a 3 × 3 pattern of
# their own, the template the neuron responds to.

# %%
image = np.array([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])  # a plus sign
pixels = [Value(p, f"pixel {k}") for k, p in enumerate(image.ravel())]
hidden = nn.Neuron(9, activation="tanh", seed=3)
response = hidden(pixels)
response.backward()
pixel_grads = np.array([p.grad for p in pixels]).reshape(3, 3)
template = np.array([w.data for w in hidden.w]).reshape(3, 3)
print(f"the hidden neuron's output: {response.data:.4f}")
print(f"pixels with a non-zero gradient: {np.count_nonzero(pixel_grads)} of 9")
assert np.count_nonzero(pixel_grads) == 9

assert np.allclose(pixel_grads, template * (1 - response.data**2), rtol=0, atol=1e-15)

fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
panels = [(image, "9 pixels = 9 input neurons", "Greys", "pixel value"),
          (template, "one hidden neuron's 9 weights", "RdBu_r", "weight")]
for ax, (data, title, cmap, what) in zip(axes, panels):
    limit = np.abs(data).max()
    shown = ax.imshow(data, cmap=cmap, vmin=-limit if cmap != "Greys" else 0, vmax=limit)
    ax.set(title=title, xticks=range(3), yticks=range(3), xlabel="pixel column", ylabel="pixel row")
    ax.grid(False)
    fig.colorbar(shown, ax=ax, shrink=0.8, label=what)
plt.show()

# %% [markdown]
# So the picture is right for the input layer only. Each hidden neuron looks at the whole image through its
# own pattern of weights; in a trained image network those patterns become edge and blob detectors.

# %% [markdown]
# ## Activations: what they do to the output and to the gradient
#
# The three usual activations, and their derivatives, both computed by the engine: for each point $z$ of a
# grid, `f(Value(z)).backward()` leaves $f'(z)$ in the input's `.grad`. No derivative formula is typed here.

# %%
ACTIVATIONS = {"tanh": Value.tanh, "sigmoid": Value.sigmoid, "relu": Value.relu}


def value_and_derivative(f, z: float) -> tuple[float, float]:
    v = Value(z)
    out = f(v)
    out.backward()
    return out.data, v.grad


zs = np.linspace(-6, 6, 241)
table = {name: np.array([value_and_derivative(f, z) for z in zs]) for name, f in ACTIVATIONS.items()}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for name, values in table.items():
    ax1.plot(zs, values[:, 0], label=name)
    ax2.plot(zs, values[:, 1], label=name)
ax1.set(xlabel="pre-activation z", ylabel="f(z)", title="output f(z)", ylim=(-1.2, 3))
ax2.set(xlabel="pre-activation z", ylabel="f'(z) (from backward)", title="derivative f'(z): the gradient's factor")
ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()

print(f"{'':>8} {'f on [-6, 6]':>16} {'f(0)':>6} {'max of f-prime':>15} {'f-prime(-4)':>12} {'f-prime(4)':>11}")
for name, f in ACTIVATIONS.items():
    values = table[name]
    at_zero, at_minus4, at_plus4 = (value_and_derivative(f, z) for z in (0.0, -4.0, 4.0))
    print(f"{name:>8} {values[:, 0].min():>7.3f} .. {values[:, 0].max():<6.3f} {at_zero[0]:>6.2f} "
          f"{values[:, 1].max():>15.4f} {at_minus4[1]:>12.4f} {at_plus4[1]:>11.4f}")
print("relu'(0) by the engine's convention:", value_and_derivative(Value.relu, 0.0)[1],
      "-", autograd.OP["relu"].convention)
assert table["tanh"][:, 1].max() == 1.0 and table["sigmoid"][:, 1].max() == 0.25
assert table["tanh"][0, 1] < 1e-4 and set(table["relu"][:, 1]) == {0.0, 1.0}
assert value_and_derivative(Value.relu, 0.0)[1] == 0.0

# %% [markdown]
# What the plots and the table show:
#
# - **tanh** squashes into $(-1, 1)$, centred on 0. Its derivative is at most 1 (at $z = 0$) and below
#   $10^{-4}$ at $z = -6$: a **saturated** tanh neuron passes almost no gradient back.
# - **sigmoid** squashes into $(0, 1)$, centred on 0.5. Its derivative is at most 0.25, so every sigmoid a
#   gradient goes through multiplies it by a quarter or less (notebook 5 shows what that does to a deep
#   chain), and it saturates like tanh.
# - **ReLU** is $\max(0, z)$: unbounded above, and its derivative is exactly 1 for $z > 0$ (the gradient
#   passes unchanged) and exactly 0 for $z < 0$ (it is cut: a "dead" unit for that input). At the kink the
#   engine's op table fixes $\text{relu}'(0) = 0$, as PyTorch does.
#
# ## What that does to a neuron's gradients
#
# The gradient that reaches a weight is $\partial o / \partial w_i = f'(z)\, x_i$: the activation's slope
# at the neuron's pre-activation, times the input. Take the neuron above (input $(2, 0)$, weights
# $(-3, 1)$) and move only its bias, which shifts $z$: the engine's gradients for $w_1$ follow $f'(z)$, times
# $x_1 = 2$.

# %%
print(f"{'bias':>6} {'z':>7}" + "".join(f"{name + ': o':>13} {'dL/dw1':>9}" for name in ACTIVATIONS))
by_bias = {}
for bias in (0.0, 5.0, 6.5, 9.0, 12.0):
    row = []
    for name, f in ACTIVATIONS.items():
        w = [Value(-3.0), Value(1.0)]
        zed = autograd.dot(w, [2.0, 0.0], bias=bias)
        activation = f(zed)
        activation.backward()
        row.append(f"{activation.data:>13.4f} {w[0].grad:>9.4f}")
        by_bias[bias, name] = w[0].grad
    print(f"{bias:>6} {zed.data:>7}" + "".join(row))
print("(o: the neuron's output; dL/dw1: the gradient of L = o on the weight w1, from backward())")
assert all(abs(by_bias[bias, name]) < 0.01 for bias in (0.0, 12.0) for name in ("tanh", "sigmoid"))
assert by_bias[0.0, "relu"] == 0.0 and by_bias[9.0, "relu"] == by_bias[12.0, "relu"] == 2.0

# %% [markdown]
# At $z = \pm 6$ the tanh and sigmoid neurons are saturated: their outputs are pinned near $\pm 1$ (or 0 and
# 1) and the gradient on $w_1$ is below 0.01, so gradient descent barely moves them. For $z < 0$ the ReLU
# neuron outputs 0 and its weight gets exactly 0 gradient; for $z > 0$ it passes $x_1 = 2$ unchanged
# whatever $z$ is. Only where $f'(z)$ is large does the neuron learn.
#
# A last measure: if pre-activations are spread around 0 (as they are at initialisation), how much gradient
# does each activation let through on average? The mean of $f'(z)$ over 2000 draws of
# $z \sim \mathcal{N}(0, \sigma^2)$, each derivative from the engine:

# %%
rng = np.random.default_rng(0)
draws = rng.standard_normal(2000)
print(f"{'spread sigma':>12}" + "".join(f"{name:>10}" for name in ACTIVATIONS))
mean_slope = {}
for sigma in (0.5, 1.0, 2.0, 5.0):
    means = [np.mean([value_and_derivative(f, sigma * d)[1] for d in draws]) for f in ACTIVATIONS.values()]
    mean_slope.update({(sigma, name): m for name, m in zip(ACTIVATIONS, means)})
    print(f"{sigma:>12}" + "".join(f"{m:>10.3f}" for m in means))
assert mean_slope[0.5, "tanh"] > 0.75 > 0.25 > mean_slope[5.0, "tanh"]
assert all(mean_slope[s, "sigmoid"] <= 0.25 for s in (0.5, 1.0, 2.0, 5.0))
assert all(0.45 < mean_slope[s, "relu"] < 0.55 for s in (0.5, 1.0, 2.0, 5.0))

# %% [markdown]
# tanh lets most of the gradient through when its inputs are small (over three quarters at $\sigma = 0.5$)
# and less and less as they spread out (under a quarter at $\sigma = 5$: saturation); sigmoid never more than
# a quarter; ReLU about half whatever the spread (the half of the inputs that are positive). This is why
# initialisation matters (notebook 3: Xavier keeps tanh's inputs in the responsive range, He doubles the
# variance to make up for ReLU's half), and why deep sigmoid chains lose their gradients (notebook 5).

# %% [markdown]
# ## Why the non-linearity matters
#
# Take the activations away and a network of any depth collapses. Each linear layer is an affine map
# $h \mapsto W h + b$, and an affine map of an affine map is affine:
# $W_2 (W_1 x + b_1) + b_2 = (W_2 W_1)\, x + (W_2 b_1 + b_2)$. Below, `MLP(2, [8, 8, 1])` with
# `activation="linear"` (three layers, 105 parameters) against the single affine map computed from its
# weights: one weight per input and one bias.

# %%
linear_net = nn.MLP(2, [8, 8, 1], activation="linear", seed=0)
bias_rng = np.random.default_rng(0)
for layer in linear_net.layers:  # biases start at 0; give them values, so that b below is not trivially 0
    for n in layer.neurons:
        n.b.data = float(bias_rng.normal())
W_total, b_total = np.eye(2), np.zeros(2)
for layer in linear_net.layers:
    W = np.array([[w.data for w in n.w] for n in layer.neurons])
    bias = np.array([n.b.data for n in layer.neurons])
    W_total, b_total = W @ W_total, W @ b_total + bias
print(f"{len(linear_net.parameters())} parameters collapse to w = {np.round(W_total.ravel(), 4)}, "
      f"b = {b_total[0]:.4f}")
points = np.random.default_rng(1).uniform(-3, 3, size=(1000, 2))
with autograd.no_grad():
    net_values = np.array([linear_net(p).data for p in points])
gap = np.max(np.abs(net_values - (points @ W_total.T + b_total).ravel()))
print(f"largest difference over 1000 random inputs: {gap:.1e}")
input_grads = []
for p in points[:5]:
    xs = [Value(v) for v in p]
    linear_net(xs).backward()
    input_grads.append([x.grad for x in xs])
print("d(output)/d(input) at five different inputs:", np.round(input_grads, 6).tolist())
assert gap < 1e-12 and np.allclose(input_grads, W_total, rtol=0, atol=1e-12)

# %% [markdown]
# The three-layer network *is* one affine map: same outputs to rounding, and the same gradient with respect
# to the input wherever it is taken (a non-linear network's gradient changes from point to point). However
# many linear layers you stack, the decision boundary stays one straight line.
#
# ### XOR: one line cannot do it, two hidden neurons can
#
# XOR is the smallest problem no line can solve: the points $(0, 0)$ and $(1, 1)$ are class 0, $(0, 1)$ and
# $(1, 0)$ class 1, so each class sits on a diagonal. Train, with binary cross-entropy and Adam
# (learning rate 0.1, 300 steps), from ten random initialisations each:
#
# - **one neuron** (`MLP(2, [1])`: a weighted sum and a bias, the logit of a sigmoid);
# - **two hidden tanh neurons and an output** (`MLP(2, [2, 1], activation="tanh")`).

# %%
X_xor = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y_xor = np.array([0, 1, 1, 0])
SEEDS = range(10)


def train_xor(hidden, seed):
    model = nn.MLP(2, [*hidden, 1], activation="tanh", seed=seed)
    opt = nn.optim.Adam(model.parameters(), lr=0.1)
    history = nn.fit(model, X_xor, y_xor, loss=F.binary_cross_entropy_with_logits, optimizer=opt, epochs=300,
                     progress=False)
    return model, history


xor_runs = {name: [train_xor(hidden, seed) for seed in SEEDS]
            for name, hidden in [("one neuron", []), ("two hidden neurons", [2])]}
for name, runs in xor_runs.items():
    print(f"{name:>18}: final loss per seed  " + " ".join(f"{h.loss[-1]:.3f}" for _, h in runs))
    print(f"{'':>18}  final accuracy       " + " ".join(f"{h.accuracy[-1]:>5.0%}" for _, h in runs))
solved = sum(h.accuracy[-1] == 1.0 for _, h in xor_runs["two hidden neurons"])
print(f"ln 2 = {np.log(2):.3f}; two hidden neurons solve XOR on {solved} of {len(SEEDS)} seeds")
assert all(abs(h.loss[-1] - np.log(2)) < 1e-3 and h.accuracy[-1] <= 0.75 for _, h in xor_runs["one neuron"])
assert 6 <= solved <= 9

# %%
xx, yy = np.meshgrid(np.linspace(-0.5, 1.5, 101), np.linspace(-0.5, 1.5, 101))
grid = np.c_[xx.ravel(), yy.ravel()]
best_one = min(xor_runs["one neuron"], key=lambda run: run[1].loss[-1])[0]
solver = next(m for m, h in xor_runs["two hidden neurons"] if h.accuracy[-1] == 1.0)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
probabilities = {}
for ax, (title, model) in zip(axes, [("one neuron: best of 10 seeds", best_one),
                                     ("two hidden tanh neurons + output", solver)]):
    prob = (1 / (1 + np.exp(-autograd.compile(lambda x, model=model: model(x))(grid)))).reshape(xx.shape)
    probabilities[title] = prob
    shown = ax.contourf(xx, yy, prob, levels=np.linspace(0, 1, 12), cmap="coolwarm", vmin=0, vmax=1)
    ax.scatter(X_xor[:, 0], X_xor[:, 1], c=y_xor, cmap="coolwarm", s=120, edgecolors="k", vmin=0, vmax=1)
    ax.set(title=title, xlabel="x1", ylabel="x2", aspect="equal")
    ax.grid(False)
for neuron_ in solver.layers[0].neurons:  # each hidden neuron's own line, w . x + b = 0
    (a1, a2), c0 = [w.data for w in neuron_.w], neuron_.b.data
    axes[1].plot(xx[0], -(a1 * xx[0] + c0) / a2, "k--", lw=1)
axes[1].set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5))
fig.colorbar(shown, ax=axes, label="predicted probability of class 1", ticks=[0, 0.25, 0.5, 0.75, 1])
plt.show()
flat = probabilities["one neuron: best of 10 seeds"]
print(f"one neuron: predicted probabilities on the whole square between {flat.min():.4f} and {flat.max():.4f}")
assert 0.49 < flat.min() <= flat.max() < 0.51

# %% [markdown]
# The single neuron's loss ends at $\ln 2 = 0.693$ on every seed: the loss of answering probability 0.5 for
# every point. No line puts both diagonals on the right sides, so the best a line can do under
# cross-entropy is to say nothing: on the left, the predicted probability stays within 0.01 of 0.5 over the
# whole square (one pale colour), and the printed accuracies are whatever side
# of 0.5 each point happens to fall on, never more than 75%. With two hidden tanh neurons, each draws one line (the
# dashed lines on the right) and the output neuron combines the two half-planes into the band between them.
# That works on most seeds, not all: the printed table shows the seeds that stall in a local minimum, where
# the loss stops well above 0. A hidden layer makes XOR *possible*; training still has to find it.

# %% [markdown]
# ## The course notes' claims on this question
#
# Every claim the course notes make about question 1 (what a neuron is), with a verdict and the section
# above that shows it.
#
# - **Question 1.** A neuron is a weighted sum of its inputs plus a bias, through an activation (tanh,
#   sigmoid, ReLU). **Right.** *Shown in: One neuron, by hand and as `nn.Neuron`.*
# - **Question 1.** A neuron computes a "weighted average" (note 003). **Partly right.** It is weighted, but
#   a sum plus a bias, not an average: with weights $(-3, 1)$ the sum is $-6$, outside the inputs' range.
#   *Shown in: A weighted sum, not a weighted average.*
# - **Question 1.** A neuron "stores a value". **Partly right.** It holds its activation (and then its
#   gradient) for the one input passing through; the next input gives another value.
#   *Shown in: Does a neuron "store a value" or "compute a function"?*
# - **Question 1.** A neuron "computes a function". **Right.** Its parameters fix $o(\mathbf{x})$ for every
#   input. *Shown in: Does a neuron "store a value" or "compute a function"?*
# - **Question 1.** Input neurons take the input and "process it through activation function" (note 000).
#   **Wrong.** Inputs are leaves fed straight into the first layer's sums; nothing is applied to them.
#   *Shown in: Where the activation sits, and what input neurons do.*
# - **Question 1.** The activation is "placed outside the neuron" (note 002). **Partly right.** It is a
#   separate node after the sum, but made in the same neuron, whose output it is.
#   *Shown in: Where the activation sits, and what input neurons do.*
# - **Question 1.** Neurons are pictured as pixels (note 001). **Partly right.** Input neurons are pixel
#   values; a hidden neuron depends on every pixel through its own weights. *Shown in: Neurons and pixels.*

# %% [markdown]
# ## Summary
#
# - A neuron is $f(\mathbf{w} \cdot \mathbf{x} + b)$: a weighted sum (not an average) plus a bias, then an
#   activation. In the engine: one `dot` node with an edge per weight, input and bias, then one activation
#   node, both made inside the neuron. Input "neurons" are just the input numbers.
# - It **computes a function** (fixed by its parameters, the same for every input) and, during a forward
#   pass, **stores a value** (its activation for that input, then its gradient). Both views are right.
# - The activation decides both the output's shape and how much gradient flows back: tanh and sigmoid
#   saturate (sigmoid passes at most a quarter), ReLU passes all or nothing.
# - Without activations, any stack of layers is one affine map, one straight line: it cannot learn XOR. Two
#   hidden tanh neurons can, on most initialisations.
