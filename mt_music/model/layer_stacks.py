"""Moves parameter trees between unrolled (`layers_0` … `layers_{L-1}`) and scanned (`layers`, [L, ...]) stacks.

`TransformerConfig.scan_layers` changes only how the encoder's and decoder's layers are stored: one
[L, ...] array per parameter instead of L arrays. These functions map any tree that mirrors the
parameters — params, AdamW's moments, a restored checkpoint's nested dicts — so a run trained one way
resumes, evaluates or exports the other way (tools/convert_checkpoint.py does it on disk; evaluation
and export convert on restore). jnp throughout, so `jax.eval_shape` gives the other layout's shapes.
Only the stacks of `encoder` and `decoder` are touched; the sub-decoder's single layer stays as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

STACKS = ("encoder", "decoder")
SCANNED = "layers"
_UNROLLED = re.compile(r"layers_(\d+)$")


def is_scanned(tree: Any) -> bool | None:
    """True / False for a tree holding scanned / unrolled stacks, None if it holds neither."""
    found = []
    _walk(tree, lambda stack: found.append(SCANNED in stack) or stack)
    return found[0] if found else None


def to_scanned(tree: Any) -> Any:
    """`layers_i` subtrees of every stack → one `layers` subtree with each leaf stacked on axis 0."""
    return _walk(tree, _stack)


def to_unrolled(tree: Any) -> Any:
    """A stack's `layers` subtree → `layers_0` … `layers_{L-1}`, each leaf split along axis 0."""
    return _walk(tree, _unstack)


def to_layout(tree: Any, scanned: bool) -> Any:
    return to_scanned(tree) if scanned else to_unrolled(tree)


def _stack(stack: dict) -> dict:
    numbered = sorted((int(m.group(1)), key) for key in stack if (m := _UNROLLED.match(key)))
    if not numbered:
        return stack
    if [i for i, _ in numbered] != list(range(len(numbered))):
        raise ValueError(f"layers are not numbered 0…{len(numbered) - 1}: {[key for _, key in numbered]}")
    layers = [stack.pop(key) for _, key in numbered]
    stack[SCANNED] = jax.tree.map(lambda *xs: jnp.stack(xs), *layers)
    return stack


def _unstack(stack: dict) -> dict:
    if SCANNED not in stack:
        return stack
    scanned = stack.pop(SCANNED)
    leaves = jax.tree.leaves(scanned)
    length = int(jnp.shape(leaves[0])[0]) if leaves else 0
    for i in range(length):
        stack[f"layers_{i}"] = jax.tree.map(lambda x, i=i: x[i], scanned)
    return stack


def _walk(node: Any, convert: Callable[[dict], dict], key: str | None = None) -> Any:
    """Rebuilds `node` (dicts, lists, tuples, named tuples, flax struct dataclasses), converting the dict of
    every `encoder` / `decoder` stack."""
    if hasattr(node, "__dataclass_fields__") and hasattr(node, "replace"):  # TrainState and other flax structs
        return node.replace(**{name: _walk(getattr(node, name), convert, name) for name in node.__dataclass_fields__})
    if isinstance(node, Mapping):
        rebuilt = {name: _walk(value, convert, name) for name, value in node.items()}
        return convert(rebuilt) if key in STACKS else rebuilt
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return type(node)(*(_walk(value, convert) for value in node))
    if isinstance(node, (list, tuple)):
        return type(node)(_walk(value, convert) for value in node)
    return node
