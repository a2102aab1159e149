"""Frame-by-frame decoding with a KV cache and the K-step sub-decoder loop.

One `jax.lax.while_loop` step feeds one frame to the cached decoder, then picks
the frame's K slots in order, each through one cached sub-decoder position: slot 0
decides what the frame is (code, SEP, height, a 1-D token, EOS); the vocabulary's
`forced_slots` fixes the other slots of 1-D / SEP / height / EOS frames, and only
codec frames sample slots 1..K-1.
An example stops at its EOS and emits PAD frames afterwards.

Positions of image outputs depend on the frames themselves (a height token sets
how many rows a column has; SEP takes a column), so the cursor that
`grids.join_systems_for_output` follows is re-run here on the fly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mt_music.vocabulary import PAD_ID, Modality, UnifiedVocabulary

Array = jax.Array
NEG_INF = -1e10


@dataclasses.dataclass(frozen=True)
class DecodingTables:
    """Vocabulary facts decoding needs, as arrays indexed by modality id, sized to the model's vocab."""

    logit_mask: np.ndarray  # bool [4, K, V]
    forced: np.ndarray  # int32 [4, V, K-1]: forced ids of slots 1..K-1 given slot 0, -1 = sample
    sos: np.ndarray  # int32 [4, K]
    eos: np.ndarray  # int32 [4]: slot-0 EOS id
    height_start: int  # id of height 1
    max_rows: int
    sep_id: int

    @classmethod
    def from_vocabulary(cls, vocabulary: UnifiedVocabulary, vocab_size: int | None = None) -> DecodingTables:
        vocab_size = vocab_size or vocabulary.vocab_size
        if vocab_size < vocabulary.vocab_size:
            raise ValueError(f"model vocab {vocab_size} < vocabulary size {vocabulary.vocab_size}")
        k = vocabulary.num_slots
        mask = np.zeros((len(Modality), k, vocab_size), bool)
        mask[..., : vocabulary.vocab_size] = vocabulary.logit_mask()
        forced = np.full((len(Modality), vocab_size, k - 1), -1, np.int32)
        for modality in Modality:
            for token_id in np.flatnonzero(mask[modality, 0]):  # only ids slot 0 can emit
                slots = vocabulary.forced_slots(modality, int(token_id))
                if slots is not None:
                    forced[modality, token_id] = slots
        return cls(
            logit_mask=mask,
            forced=forced,
            sos=np.stack([vocabulary.sos_frame(m) for m in Modality]).astype(np.int32),
            eos=np.array([vocabulary.eos_id(m) for m in Modality], np.int32),
            height_start=vocabulary.height_id(1),
            max_rows=vocabulary.config.image_max_rows,
            sep_id=vocabulary.sep_id,
        )


# ----------------------------------------------------------------- positions


class Cursor(NamedTuple):
    """Where the next image code goes: column x, row inside it, rows per column."""

    x: Array
    row: Array
    height: Array


def initial_cursor(batch_size: int, tables: DecodingTables) -> Cursor:
    zeros = jnp.zeros(batch_size, jnp.int32)
    return Cursor(zeros, zeros, jnp.full(batch_size, tables.max_rows, jnp.int32))


def advance(cursor: Cursor, slot0: Array, t: Array, modality: Array, tables: DecodingTables) -> tuple[Array, Cursor]:
    """(x, y) of output frame t (the decoder input t+1) and the cursor after it.

    1-D and audio frames sit at (t+1, 0). Image frames follow join_systems_for_output:
    a code at (x, row+1), wrapping to the next column after `height` rows; SEP at
    (x, 0) taking a column; height at (x, 0) taking none. A non-code frame closes a
    partial column first (malformed output keeps going rather than overlapping).
    """
    is_height = (slot0 >= tables.height_start) & (slot0 < tables.height_start + tables.max_rows)
    is_sep = slot0 == tables.sep_id
    is_code = ~is_height & ~is_sep & (slot0 != tables.eos[Modality.IMAGE]) & (slot0 != PAD_ID)
    x = jnp.where(~is_code & (cursor.row > 0), cursor.x + 1, cursor.x)
    row = jnp.where(is_code, cursor.row, 0)
    image_position = jnp.stack([x, jnp.where(is_code, row + 1, 0)], axis=-1)
    row = jnp.where(is_code, row + 1, row)
    wrap = is_code & (row >= cursor.height)
    next_cursor = Cursor(
        x=jnp.where(wrap | is_sep, x + 1, x),
        row=jnp.where(wrap, 0, row),
        height=jnp.where(is_height, slot0 - tables.height_start + 1, cursor.height),
    )
    line_position = jnp.stack([jnp.broadcast_to(t + 1, x.shape), jnp.zeros_like(x)], axis=-1)
    is_image = (modality == Modality.IMAGE)[:, None]
    return jnp.where(is_image, image_position, line_position).astype(jnp.int32), next_cursor


def decoder_positions(frames: Array, modality: Array, tables: DecodingTables) -> Array:
    """Positions [B, L, 2] of the decoder INPUTS for output frames [B, L, K] (SOS at (0, 0))."""
    frames = jnp.asarray(frames)
    batch, length = frames.shape[:2]

    def step(cursor, inputs):
        t, slot0 = inputs
        position, cursor = advance(cursor, slot0, t, modality, tables)
        return cursor, position

    ts = jnp.arange(length - 1, dtype=jnp.int32)
    _, positions = jax.lax.scan(step, initial_cursor(batch, tables), (ts, frames[:, : length - 1, 0].T))
    sos = jnp.zeros((batch, 1, 2), jnp.int32)
    return jnp.concatenate([sos, positions.transpose(1, 0, 2)], axis=1)


# ------------------------------------------------------------------ sampling


def sample_slot(logits: Array, rng: Array, temperature: Array, top_k: int = 0, top_p: Array | None = None) -> Array:
    """Ids [B] from fp32 logits [B, V]; temperature [B] (0 = greedy), top_p [B] (None = off).

    One argmax for greedy and sampled rows alike: Gumbel noise (as `jax.random.categorical` draws it) is
    added only where the temperature is above 0, and top-k / top-p always keep a row's maximum.
    """
    hot = temperature > 0
    scaled = jnp.where(hot[:, None], logits / jnp.where(hot, temperature, 1.0)[:, None], logits)
    if top_k > 0:
        kth = jax.lax.top_k(scaled, top_k)[0][:, -1:]
        scaled = jnp.where(scaled < kth, NEG_INF, scaled)
    if top_p is not None:
        ordered = jnp.sort(scaled, axis=-1)[:, ::-1]
        probs = jax.nn.softmax(ordered, axis=-1)
        keep = jnp.cumsum(probs, axis=-1) - probs < top_p[:, None]  # mass before this id < p
        threshold = jnp.min(jnp.where(keep, ordered, jnp.inf), axis=-1, keepdims=True)
        scaled = jnp.where(scaled < threshold, NEG_INF, scaled)
    noise = jnp.where(hot[:, None], jax.random.gumbel(rng, scaled.shape, scaled.dtype), 0.0)
    return jnp.argmax(scaled + noise, axis=-1).astype(jnp.int32)


def per_modality(value: float | Sequence[float]) -> tuple[float, ...]:
    """A setting given once or per target modality (LMX, MIDI, IMAGE, AUDIO), as a hashable tuple."""
    values = np.asarray(value, np.float64).reshape(-1)
    if values.size not in (1, len(Modality)):
        raise ValueError(f"expected one value or one per modality {[m.name for m in Modality]}, got {value!r}")
    return tuple(float(v) for v in np.broadcast_to(values, (len(Modality),)))


# ------------------------------------------------------------------ the loop


class DecodeResult(NamedTuple):
    frames: Array  # [B, L, K] output frames (prefix included), PAD after EOS
    scores: Array  # [B] log-likelihood of the chosen ids (forced slots and prefix excluded)
    lengths: Array  # [B] frames up to and including EOS (L if none)
    positions: Array  # [B, L, 2] decoder input positions used (SOS, then frames[:-1])


StepFn = Callable[[dict, Array, Array], tuple[Array, dict]]
SlotLogitsFn = Callable[[Array, Array, int, dict], tuple[Array, dict]]


def decode(*, step_fn: StepFn, slot_logits_fn: SlotLogitsFn, cache: dict, slot_cache: dict,
           tables: DecodingTables, modality: Array, max_length: int, prefix: Array | None = None,
           rng: Array | None = None, temperature: float | Sequence[float] = 0.0, top_k: int = 0,
           top_p: float | Sequence[float] = 1.0) -> DecodeResult:
    """Decodes up to `max_length` frames per example.

    step_fn(cache, frame [B, 1, K], position [B, 1, 2]) -> (hidden [B, 1, D], cache): the cached decoder.
    slot_logits_fn(hidden, previous_ids [B], slot, slot_cache) -> (masked fp32 logits [B, V] of `slot`,
    slot_cache): the sub-decoder, given the id just picked for slot - 1; every frame starts again from
    `slot_cache`. `prefix` [B, P, K]: frames forced at the start; an example's prefix ends at its first
    frame with PAD in slot 0. Temperature / top_p may be given per target modality.
    """
    modality = jnp.asarray(modality, jnp.int32)
    batch, k = modality.shape[0], tables.sos.shape[1]
    temperatures, top_ps = per_modality(temperature), per_modality(top_p)
    temperature_b = jnp.asarray(temperatures)[modality]
    top_p_b = jnp.asarray(top_ps)[modality] if min(top_ps) < 1.0 else None
    greedy_only = max(temperatures) == 0.0
    if rng is None:
        rng = jax.random.key(0)
    if prefix is None:
        prefix = jnp.zeros((batch, 1, k), jnp.int32)
    prefix_length = jnp.cumprod(prefix[:, :, 0] != PAD_ID, axis=1).sum(axis=1)
    forced = jnp.asarray(tables.forced)
    eos = jnp.asarray(tables.eos)[modality]

    def pick_frame(hidden, rng):
        frame = jnp.zeros((batch, k), jnp.int32)
        score = jnp.zeros(batch, jnp.float32)
        frame_cache = slot_cache
        for slot in range(k):
            logits, frame_cache = slot_logits_fn(hidden, frame[:, max(slot - 1, 0)], slot, frame_cache)
            rng, key = jax.random.split(rng)
            ids = jnp.argmax(logits, -1).astype(jnp.int32) if greedy_only else sample_slot(
                logits, key, temperature_b, top_k, top_p_b)
            is_forced = jnp.zeros(batch, bool)
            if slot > 0:
                forced_ids = forced[modality, frame[:, 0], slot - 1]
                is_forced = forced_ids >= 0
                ids = jnp.where(is_forced, forced_ids, ids)
            log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), ids[:, None], axis=-1)[:, 0]
            score = score + jnp.where(is_forced, 0.0, log_prob)
            frame = frame.at[:, slot].set(ids)
        return frame, score, rng

    class State(NamedTuple):
        t: Array
        frame: Array
        position: Array
        cursor: Cursor
        cache: dict
        frames: Array
        positions: Array
        done: Array
        scores: Array
        lengths: Array
        rng: Array

    def body(s: State) -> State:
        hidden, cache = step_fn(s.cache, s.frame[:, None], s.position[:, None])
        frame, score, rng = pick_frame(hidden, s.rng)
        in_prefix = s.t < prefix_length
        frame = jnp.where(in_prefix[:, None], prefix[:, jnp.minimum(s.t, prefix.shape[1] - 1)], frame)
        frame = jnp.where(s.done[:, None], PAD_ID, frame)
        score = jnp.where(in_prefix | s.done, 0.0, score)
        position, cursor = advance(s.cursor, frame[:, 0], s.t, modality, tables)
        return State(
            t=s.t + 1, frame=frame, position=position, cursor=cursor, cache=cache,
            frames=s.frames.at[:, s.t].set(frame),
            positions=s.positions.at[:, s.t].set(s.position),
            done=s.done | (frame[:, 0] == eos),
            scores=s.scores + score,
            lengths=jnp.where(s.done, s.lengths, s.t + 1),
            rng=rng,
        )

    def running(s: State) -> Array:
        return (s.t < max_length) & ~jnp.all(s.done)

    init = State(
        t=jnp.array(0, jnp.int32),
        frame=jnp.asarray(tables.sos)[modality],
        position=jnp.zeros((batch, 2), jnp.int32),
        cursor=initial_cursor(batch, tables),
        cache=cache,
        frames=jnp.zeros((batch, max_length, k), jnp.int32),
        positions=jnp.zeros((batch, max_length, 2), jnp.int32),
        done=jnp.zeros(batch, bool),
        scores=jnp.zeros(batch, jnp.float32),
        lengths=jnp.zeros(batch, jnp.int32),
        rng=rng,
    )
    final = jax.lax.while_loop(running, body, init)
    return DecodeResult(final.frames, final.scores, final.lengths, final.positions)
