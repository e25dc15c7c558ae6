# Source of notebooks/05_chain_rule.ipynb (built and executed by notebooks/_build.py).

# %% [markdown]
# # 5. What is the chain rule in gradient flow?
#
# Backpropagation is the chain rule, applied node by node from the output back to the inputs:
#
# $$\frac{\partial L}{\partial v} = \sum_{c \,\in\, \text{consumers of } v}
#   \frac{\partial L}{\partial c} \cdot \frac{\partial c}{\partial v}$$
#
# The gradient of the loss with respect to a node is the sum, over the nodes that use it, of *their*
# gradient times the *local* derivative along the edge. Every node of the engine records its local
# derivatives when it is made (`local_grads`, one per parent); `backward()` walks the graph once in reverse
# topological order and does exactly the sum above. This notebook checks it by hand, shows it on every edge
# of the diagram, shows the sum over paths, animates the backward pass, shows how long products of local
# derivatives vanish or explode, and ends with the tools to test derivatives you write yourself.

# %%
import math

import matplotlib.pyplot as plt
from hypothesis import given, settings
from IPython.display import IFrame

from chainrule import autograd, nn, viz
from chainrule.autograd import Op, Value, apply, gradcheck, topological_order
from chainrule.autograd.testing import expressions, values_in
from chainrule.viz.animation import backward_steps

plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (10, 3.4), "axes.grid": True, "grid.alpha": 0.3})

# %% [markdown]
# ## By hand and by the engine, on the same expression
#
# $$f(x, y) = \sin(xy) + x^2 \quad\text{at } x = 1.5,\ y = -0.7$$
#
# Name the intermediate results: $a = xy$, $b = \sin a$, $c = x^2$, $f = b + c$. By hand, from the output
# back, each step multiplies the gradient that has arrived by one local derivative:

# %%
x_, y_ = 1.5, -0.7
a_ = x_ * y_
df_df = 1.0
df_db = df_df * 1.0  # f = b + c: df/db = 1
df_dc = df_df * 1.0  # df/dc = 1
df_da = df_db * math.cos(a_)  # b = sin(a): db/da = cos(a)
df_dy = df_da * x_  # a = x*y: da/dy = x
df_dx = df_da * y_ + df_dc * 2 * x_  # x feeds a (da/dx = y) AND c (dc/dx = 2x): two terms, summed
print(f"by hand: df/da = {df_da:.6f}, df/dx = {df_dx:.6f}, df/dy = {df_dy:.6f}")

x, y = Value(x_, "x"), Value(y_, "y")
a = x * y
a.label = "a"
b = a.sin()
b.label = "b"
c = x**2
c.label = "c"
f = b + c
f.label = "f"
f.backward()
print(f"engine:  df/da = {a.grad:.6f}, df/dx = {x.grad:.6f}, df/dy = {y.grad:.6f}")
print(f"differences: {abs(a.grad - df_da):.1e}, {abs(x.grad - df_dx):.1e}, {abs(y.grad - df_dy):.1e}")

# %% [markdown]
# ## Every edge's chain-rule term
#
# The engine's graph holds the same numbers. For each edge parent $\to$ child, the chain-rule **term** is
# the child's gradient times the local derivative $\partial\,\text{child} / \partial\,\text{parent}$ that the
# child recorded when it was made. A node's gradient is the sum of the terms on its outgoing edges:

# %%
def name(v):
    return v.label or (f"{v.data:g}" if v.role == "constant" else v.op)


order = topological_order(f)
terms = {v: [] for v in order}
print(f"{'edge':>10}  {'local d child/d parent':>22}  {'x child grad':>12}  {'= term':>10}")
for child in reversed(order):
    for parent, local in zip(child.parents, child.local_grads):
        term = local * child.grad
        terms[parent].append(term)
        print(f"{name(parent):>4} -> {name(child):<3}  {local:>22.6f}  {child.grad:>12.6f}  {term:>10.6f}")
print()
for v in order:
    if terms[v] and v.role != "constant":
        sums = " + ".join(f"{t:.6f}" for t in terms[v])
        print(f"grad of {name(v)}: {sums} = {sum(terms[v]):.6f}   (stored .grad: {v.grad:.6f})")
        assert math.isclose(sum(terms[v]), v.grad, rel_tol=1e-12)

# %% [markdown]
# (The exponent 2 of `x**2` is a constant leaf; the engine computes no derivative for constants, so its
# edge records 0.0.) The two terms on $x$'s edges are the two paths from $x$ to $f$: through $a$ and through
# $c$.

# %% [markdown]
# ## The diagram
#
# `viz.draw` puts the same numbers on the picture: every node shows its value and gradient, every edge its
# local derivative $\partial$, the consumer's gradient $g$, and the term they make ($\to$). $x$ has two
# outgoing edges, and its gradient is the sum of their two terms. With `check=True` each input also shows
# the finite-difference estimate of its gradient and the relative error.

# %%
viz.draw(f, check=True)

# %% [markdown]
# ## The sum over paths
#
# A node used twice gets two edges, and its gradient is the sum of both terms. The smallest case is
# $x \cdot x$: the engine records the parents `(x, x)` and two local derivatives, each equal to $x$; the sum
# is $2x$.

# %%
x = Value(3.0, "x")
square = x * x
square.backward()
print(f"parents {[p.label for p in square.parents]}, local grads {square.local_grads}, x.grad = {x.grad} = 2x")

# %% [markdown]
# Unrolled all the way, the chain rule says: the derivative of the output with respect to a node is the sum,
# over **every path** from the node to the output, of the product of the local derivatives along the path.
# The function below enumerates the paths literally and compares with `backward()` on a graph where every
# layer uses the previous one twice ($h_{k+1} = \sin(h_k) + \cos(h_k)$), so the number of paths doubles with
# each layer.

# %%
def sum_over_paths(output, node):
    """The sum over all paths from node to output of the product of local derivatives (exponential!)."""
    if output is node:
        return 1.0, 1
    total, count = 0.0, 0
    for parent, local in zip(output.parents, output.local_grads):
        sub_total, sub_count = sum_over_paths(parent, node)
        total += local * sub_total
        count += sub_count
    return total, count


for depth in (1, 4, 8, 12):
    x = Value(0.9, "x")
    h = x
    for _ in range(depth):
        h = h.sin() + h.cos()
    h.backward()
    by_paths, paths = sum_over_paths(h, x)
    edges = sum(len(v.parents) for v in topological_order(h))
    print(f"depth {depth:2d}: {paths:5d} paths, {edges:3d} edges; sum over paths {by_paths:+.12f}, "
          f"backward {x.grad:+.12f}")
    assert math.isclose(by_paths, x.grad, rel_tol=1e-9)

# %% [markdown]
# The two agree, but enumerating paths costs time proportional to the number of paths, which doubles with
# every layer, while `backward()` visits each edge once: it adds the terms at every node as soon as all of
# the node's consumers are done (that is what the reverse topological order guarantees), so shared sub-paths
# are summed once instead of once per path. That is the whole trick of backpropagation.

# %% [markdown]
# ## The backward pass, step by step
#
# `viz.animate_backward` writes a self-contained web page that replays the backward pass of $f$ one node at
# a time, in reverse topological order: each step, one node's gradient arrives as the sum of the terms on
# its outgoing edges. Open [05_backward.html](05_backward.html) (next to this notebook) in a browser for the
# play / step controls; when this notebook runs in Jupyter it also shows below the steps, which are printed
# here as text:

# %%
page = viz.animate_backward(f, "05_backward.html", title="Backward pass of f = sin(x*y) + x**2")
for k, step in enumerate(backward_steps(viz.trace(f)), 1):
    print(f"step {k}: " + "   ".join(step.lines))
IFrame(page.name, width="100%", height=560)

# %% [markdown]
# ## Products of local derivatives: vanishing and exploding gradients
#
# Along a chain, the gradient is a **product** of local derivatives, one per edge. If they are all below 1 it
# shrinks geometrically with depth (vanishes); above 1 it grows geometrically (explodes).
#
# The cleanest case is a chain of sigmoid neurons, each with one input: $h_{k+1} = \sigma(w h_k + b)$,
# 30 of them, built as `nn.MLP(1, [1] * 30, activation="sigmoid", final_activation="sigmoid")`. Start from
# $h_0 = 0.5$ and choose $b = -w/2$, so that every pre-activation is exactly 0, where $\sigma' = 0.25$. Each
# neuron then contributes a local derivative $\partial h_{k+1} / \partial h_k = w \cdot 0.25$:
#
# - $w = 1$: a factor 0.25 per layer (the largest sigmoid can give with a unit weight): vanishing;
# - $w = 4$: a factor exactly 1: the gradient is preserved;
# - $w = 8$: a factor 2: exploding.

# %%
DEPTH = 30


def sigmoid_chain(w):
    model = nn.MLP(1, [1] * DEPTH, activation="sigmoid", final_activation="sigmoid")
    model.load_state_dict({name: (w if name.endswith(".w.0") else -w / 2) for name, _ in model.named_parameters()})
    return model


def chain_gradients(model, h0=0.5):
    """Run the chain layer by layer; return dL/dh_k for k = 0..DEPTH (L = the output) and the local factors."""
    hs = [Value(h0, "h0")]
    for layer in model.layers:
        hs.append(layer([hs[-1]]))
    hs[-1].backward()
    # each layer's dot node records d z / d h_prev = w; its sigmoid records sigma'(z)
    factors = [h.local_grads[0] * h.parents[0].local_grads[1] for h in hs[1:]]
    return [h.grad for h in hs], factors


chains = {}
for w in (1.0, 4.0, 8.0):
    model = sigmoid_chain(w)
    grads, factors = chain_gradients(model)
    chains[w] = (model, grads)
    print(f"w = {w}: local factor per layer {set(factors)}; dL/dh at the output 1.0, at the input {grads[0]:.3e}"
          f" = {factors[0]}^{DEPTH} = {factors[0] ** DEPTH:.3e}")

fig, ax = plt.subplots(figsize=(6, 3.4))
for w, (_, grads) in chains.items():
    ax.plot(range(DEPTH + 1), grads, marker=".", label=f"w = {w}: factor {0.25 * w:g} per layer")
ax.set(yscale="log", xlabel="layer k (0 = the input)", ylabel="|dL/dh_k|", title="gradient along a sigmoid chain")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A factor of 0.25 over 30 layers leaves about $10^{-18}$ of the gradient at the input; a factor of 2 multiplies
# it by about $10^{9}$. Nothing is wrong with any single derivative; the product does it.
#
# ### The per-layer gradient-flow chart
#
# The parameters' gradients follow the same product. `viz.grad_flow(model)` draws, per layer, the mean and
# the largest $|\partial L / \partial p|$ over its weights and bias on a log scale, input side on the left:
# a slope up to the right is a vanishing gradient, a slope down is an exploding one.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
for ax, (w, (model, _)) in zip(axes, chains.items()):
    viz.grad_flow(model, ax=ax, title=f"w = {w}: factor {0.25 * w:g} per layer")
    ax.set_xticks(ax.get_xticks()[::5])  # 30 layers: label every fifth
plt.show()

# %% [markdown]
# The same happens, less tidily, in a real network. An MLP with ten sigmoid hidden layers of 8 neurons
# (Xavier initialisation) on the moons data: after one backward pass of the binary cross-entropy, the
# gradients of the layers near the input are orders of magnitude smaller than near the output, so those
# layers barely learn. With tanh (derivative up to 1) the drop is far smaller.

# %%
X, y01 = nn.make_moons(100, noise=0.1, seed=1)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
ratios = {}
for ax, act in zip(axes, ("sigmoid", "tanh")):
    model = nn.MLP(2, [8] * 10 + [1], activation=act, seed=0)
    nn.functional.binary_cross_entropy_with_logits([model(x) for x in X], y01.tolist()).backward()
    means = [mean for mean, _ in nn.grad_stats(model).values()]
    print(f"{act:>8}: mean |dL/dp| of the first layer / of the last = {means[0]:.2e} / {means[-1]:.2e} "
          f"= {means[0] / means[-1]:.1e}")
    viz.grad_flow(model, ax=ax, title=f"MLP(2, [8] * 10 + [1]), {act}, one backward pass")
    ratios[act] = means[0] / means[-1]
plt.show()
assert ratios["sigmoid"] < 1e-4 < 1e-2 < ratios["tanh"]

# ## Checking derivatives you write: `gradcheck`
#
# When you compose your own function from the engine's ops, its derivative comes from the chain rule for
# free; `gradcheck` confirms it against central finite differences $(f(x + \epsilon) - f(x - \epsilon)) /
# 2\epsilon$ for every input.

# %%
def smooth_hinge(score, label):
    """A user-written loss: softplus(1 - label * score) / (1 + score**2), just for the example."""
    return (1 - label * score).softplus() / (1 + score**2)


print("gradcheck(smooth_hinge, [0.3, -1.0]):", gradcheck(smooth_hinge, [0.3, -1.0]))
print("gradcheck(smooth_hinge, [2.5, 1.0]): ", gradcheck(smooth_hinge, [2.5, 1.0]))

# %% [markdown]
# If you add a **primitive** (a new row for the op table, with its own derivative rule), nothing checks the
# rule for you, so a wrong one goes straight into every gradient. Here is softsign,
# $x / (1 + |x|)$, with a deliberately wrong derivative ($1 / (1 + |x|)$ instead of $1 / (1 + |x|)^2$):

# %%
softsign_wrong = Op(
    "softsign", "softsign", 1,
    lambda M, x: x / (1.0 + M.abs(x)),
    (lambda M, out, x: 1.0 / (1.0 + M.abs(x)),),  # wrong: should be squared
    (((-3.0, 3.0),),),
)
softsign_right = Op(
    "softsign", "softsign", 1,
    lambda M, x: x / (1.0 + M.abs(x)),
    (lambda M, out, x: 1.0 / (1.0 + M.abs(x)) ** 2,),
    (((-3.0, 3.0),),),
)
print("right rule:", gradcheck(lambda x: apply(softsign_right, x), [0.7]))
try:
    gradcheck(lambda x: apply(softsign_wrong, x), [0.7])
except autograd.GradcheckError as error:
    print("wrong rule: GradcheckError:", error)

# %% [markdown]
# ## Property tests with hypothesis
#
# One point can be lucky. A property test states what must hold for *every* input and lets
# [hypothesis](https://hypothesis.readthedocs.io) search for a counter-example. Two here, run inline:
#
# 1. The engine itself: `autograd.testing.expressions()` draws random expression graphs from the op table
#    (inputs inside each op's domain, away from kinks, shared sub-graphs and `x*x` included); for each,
#    backward must match finite differences.
# 2. The user's primitive: over its domain (`values_in(op)`), its derivative rule must match finite
#    differences. The wrong rule is caught, and hypothesis shrinks the failure to a simple input.

# %%
seen = []


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(expressions(max_ops=8))
def test_backward_matches_finite_differences(expr):
    seen.append(expr)
    assert gradcheck(expr, expr.inputs)


test_backward_matches_finite_differences()
ops_used = sorted({step.op for expr in seen for step in expr.program})
print(f"passed: {len(seen)} random expressions using the ops {', '.join(ops_used)}; three of them:")
for expr in seen[len(seen) // 4 :: len(seen) // 4][:3]:
    print("  ", expr)

# %%
def rule_is_right(op):
    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(values_in(op))
    def test_rule(x):
        assert gradcheck(lambda v: apply(op, v), [x])

    test_rule()


rule_is_right(softsign_right)
print("softsign with the right rule: passed")
try:
    rule_is_right(softsign_wrong)
except autograd.GradcheckError as error:
    print("softsign with the wrong rule: hypothesis found a counter-example:")
    print("  ", str(error).splitlines()[0])

# %% [markdown]
# ## Summary
#
# - The gradient of the output with respect to a node is the sum, over the node's consumers, of the
#   consumer's gradient times the local derivative on the edge: checked above by hand, edge by edge.
# - A node used twice gets two edges and two terms; unrolled, the gradient is a sum over all paths of
#   products of local derivatives, which backward computes in one pass over the edges.
# - Along a deep chain those products vanish (factors below 1, like sigmoid's at most 0.25) or explode
#   (factors above 1); the per-layer gradient chart shows where.
# - `gradcheck` and property tests with `autograd.testing` check derivatives you write against finite
#   differences.
