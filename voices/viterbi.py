"""Viterbi decoding that skips impossible transitions, state for state identical to librosa's.

pYIN decodes ~800 pitch states per 16 ms frame with librosa's dense Viterbi: every state looks at every
other state, though a voice cannot jump more than 7 semitones between frames, so ~140 of the 800
transitions are possible. The dense loop was 80 % of a pitch track (3.0 of 3.7 s on six LJ clips) and a
pitch track runs on every clip at set-up and on every sentence a moved clone speaks.

Exactness: librosa scores a transition of probability 0 as log(tiny), one constant. A state's best
predecessor is found among the possible ones; an impossible one scores at most (the best score of the
frame before) + log(tiny), so when the possible best is strictly above that, no impossible predecessor can
win or tie. Otherwise (a state reachable only through near-impossible scores) that state is decoded with the
full dense scan, as librosa does. Ties resolve to the lowest state, as numpy's argmax does."""
from __future__ import annotations

import numpy as np


def sparse_viterbi(prob: np.ndarray, transition: np.ndarray, *, p_init: np.ndarray | None = None,
                   return_logp: bool = False):
    """`librosa.sequence.viterbi`'s arguments and result (states as uint16; prob [..., states, frames])."""
    from librosa.util import tiny
    from librosa.util.exceptions import ParameterError

    n_states, n_steps = prob.shape[-2:]
    if transition.shape != (n_states, n_states):
        raise ParameterError(f"transition.shape={transition.shape}, must be (n_states, n_states)={n_states, n_states}")
    if np.any(transition < 0) or not np.allclose(transition.sum(axis=1), 1):
        raise ParameterError("Invalid transition matrix: must be non-negative and sum to 1 on each row.")
    if np.any(prob < 0) or np.any(prob > 1):
        raise ParameterError("Invalid probability values: must be between 0 and 1.")
    epsilon = tiny(prob)
    if p_init is None:
        p_init = np.full(n_states, 1.0 / n_states)
    elif np.any(p_init < 0) or not np.allclose(p_init.sum(), 1) or p_init.shape != (n_states,):
        raise ParameterError(f"Invalid initial state distribution: p_init={p_init}")
    log_trans = np.log(transition + epsilon)
    log_p_init = np.log(p_init + epsilon)
    impossible = float(np.log(epsilon))   # what log_trans holds where transition is 0
    # predecessors of each state, lowest first (CSR over the columns)
    columns = [np.flatnonzero(transition[:, j]) for j in range(n_states)]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.int64)
    indices = np.concatenate(columns).astype(np.int64) if indptr[-1] else np.zeros(0, np.int64)

    flat = np.log(prob + epsilon).reshape(-1, n_states, n_steps)
    states = np.empty((flat.shape[0], n_steps), dtype=np.uint16)
    logp = np.empty(flat.shape[0], dtype=np.float64)
    for k, log_prob in enumerate(flat):
        states[k], logp[k] = _decode(np.ascontiguousarray(log_prob.T), log_trans, log_p_init,
                                     indptr, indices, impossible)
    states = states.reshape(prob.shape[:-2] + (n_steps,))
    if return_logp:
        return states, logp.reshape(prob.shape[:-2])
    return states


def _jit(function):
    from numba import jit

    return jit(nopython=True, cache=True)(function)


@_jit
def _decode(log_prob, log_trans, log_p_init, indptr, indices, impossible):   # pragma: no cover (compiled)
    n_steps, n_states = log_prob.shape
    value = np.empty((n_steps, n_states), dtype=np.float64)
    ptr = np.zeros((n_steps, n_states), dtype=np.uint16)
    value[0] = log_prob[0] + log_p_init
    for t in range(1, n_steps):
        before = value[t - 1]
        ceiling = np.max(before) + impossible   # the most any impossible transition can score
        for j in range(n_states):
            best, arg = -np.inf, -1
            for k in range(indptr[j], indptr[j + 1]):
                i = indices[k]
                v = before[i] + log_trans[i, j]
                if v > best:
                    best, arg = v, i
            if not best > ceiling:   # an impossible transition could win or tie: the dense scan
                best, arg = before[0] + log_trans[0, j], 0
                for i in range(1, n_states):
                    v = before[i] + log_trans[i, j]
                    if v > best:
                        best, arg = v, i
            ptr[t, j] = arg
            value[t, j] = log_prob[t, j] + best
    state = np.zeros(n_steps, dtype=np.uint16)
    state[-1] = np.argmax(value[-1])
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    return state, value[-1, state[-1]]
