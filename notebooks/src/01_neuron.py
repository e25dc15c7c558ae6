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
# the engine, settles a disagreement in the course notes (does a neuron "store a value" or "compute a
# function"?), draws its gradient flow, and measures what the three usual activations do to the output and
# to the gradient.

# %%
import matplotlib.pyplot as plt
import numpy as np

from chainrule import autograd, nn, viz
from chainrule.autograd import Value

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (10, 3.4), "axes.grid": True, "grid.alpha": 0.3})

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
assert out.data == o.data

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

fig, (ax1, ax2) = plt.subplots(1, 2)
im = ax1.contourf(grid1, grid2, surface, levels=21, cmap="RdBu_r", vmin=-1, vmax=1)
ax1.contour(grid1, grid2, surface, levels=[0], colors="k", linewidths=1)
ax1.plot([x1.data], [x2.data], "k*", ms=12)
ax1.annotate(f"stored: o = {o.data:.4f}", (x1.data, x2.data), (-3.5, 2.6), arrowprops={"arrowstyle": "->"},
             bbox={"boxstyle": "round", "fc": "white"})
ax1.set(xlabel="x1", ylabel="x2", title="the function o(x1, x2) = tanh(w . x + b)")
fig.colorbar(im, ax=ax1)
ax2.plot(slice_x1, slice_o, label="o(x1, x2 = 0)")
ax2.plot([x1.data], [o.data], "k*", ms=12, label=f"the value for x = (2, 0): {o.data:.4f}")
slope = x1.grad  # d o / d x1 at the stored point, from backward()
near = np.linspace(x1.data - 0.4, x1.data + 0.4, 9)
ax2.plot(near, o.data + slope * (near - x1.data), "--", lw=2, label=f"slope there (x1.grad): {slope:.4f}")
ax2.set(xlabel="x1", ylabel="o", title="a slice of the function", ylim=(-1.1, 1.1))
ax2.legend(fontsize=8)
plt.tight_layout()
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
fig, (ax1, ax2) = plt.subplots(1, 2)
for name, values in table.items():
    ax1.plot(zs, values[:, 0], label=name)
    ax2.plot(zs, values[:, 1], label=name)
ax1.set(xlabel="pre-activation z", ylabel="f(z)", title="output f(z)", ylim=(-1.2, 3))
ax2.set(xlabel="pre-activation z", ylabel="f'(z) (from backward)", title="derivative f'(z): the gradient's factor")
ax1.legend()
plt.tight_layout()
plt.show()

print(f"{'':>8} {'f on [-6, 6]':>16} {'f(0)':>6} {'max of f-prime':>15} {'f-prime(-4)':>12} {'f-prime(4)':>11}")
for name, f in ACTIVATIONS.items():
    values = table[name]
    at_zero, at_minus4, at_plus4 = (value_and_derivative(f, z) for z in (0.0, -4.0, 4.0))
    print(f"{name:>8} {values[:, 0].min():>7.3f} .. {values[:, 0].max():<6.3f} {at_zero[0]:>6.2f} "
          f"{values[:, 1].max():>15.4f} {at_minus4[1]:>12.4f} {at_plus4[1]:>11.4f}")
print("relu'(0) by the engine's convention:", value_and_derivative(Value.relu, 0.0)[1],
      "-", autograd.OP["relu"].convention)

# %% [markdown]
# What the plots and the table show:
#
# - **tanh** squashes into $(-1, 1)$, centred on 0. Its derivative is at most 1 (at $z = 0$) and nearly 0
#   for $|z| > 3$: a **saturated** tanh neuron passes almost no gradient back.
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
for bias in (0.0, 5.0, 6.5, 9.0, 12.0):
    row = []
    for f in ACTIVATIONS.values():
        w = [Value(-3.0), Value(1.0)]
        zed = autograd.dot(w, [2.0, 0.0], bias=bias)
        activation = f(zed)
        activation.backward()
        row.append(f"{activation.data:>13.4f} {w[0].grad:>9.4f}")
    print(f"{bias:>6} {zed.data:>7}" + "".join(row))
print("(o: the neuron's output; dL/dw1: the gradient of L = o on the weight w1, from backward())")

# %% [markdown]
# At $z = \pm 6$ the tanh and sigmoid neurons are saturated: their outputs are pinned near $\pm 1$ (or 0 and
# 1) and the gradient on $w_1$ is close to 0, so gradient descent barely moves them. For $z < 0$ the ReLU
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
for sigma in (0.5, 1.0, 2.0, 5.0):
    means = [np.mean([value_and_derivative(f, sigma * d)[1] for d in draws]) for f in ACTIVATIONS.values()]
    print(f"{sigma:>12}" + "".join(f"{m:>10.3f}" for m in means))

# %% [markdown]
# tanh lets most of the gradient through when its inputs are small and less and less as they spread out
# (saturation); sigmoid never more than a quarter; ReLU about half whatever the spread (the half of the
# inputs that are positive). This is why initialisation matters (notebook 3: Xavier keeps tanh's inputs in
# the responsive range, He doubles the variance to make up for ReLU's half), and why deep sigmoid chains
# lose their gradients (notebook 5).
#
# ## Summary
#
# - A neuron is $f(\mathbf{w} \cdot \mathbf{x} + b)$: in the engine, one `dot` node with an edge per weight,
#   input and bias, then one activation node.
# - It **computes a function** (fixed by its parameters, the same for every input) and, during a forward
#   pass, **stores a value** (its activation for that input, then its gradient). Both views are right.
# - The activation decides both the output's shape and how much gradient flows back: tanh and sigmoid
#   saturate (sigmoid passes at most a quarter), ReLU passes all or nothing.
