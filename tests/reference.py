"""Plain-numpy reference cells, forward and backward, written from the equations.

Independent of the kernels: batch-major arrays, a Python loop over time, one
matrix product per gate, nothing shared with ``numbarnn``. Slow and obvious.
"""

import numpy as np


def act_fn(name):
    """Return (f, f') for an activation name; f' takes the pre-activation."""
    if name == "tanh":
        return np.tanh, lambda x: 1.0 - np.tanh(x) ** 2
    if name == "sigmoid":
        s = lambda x: 0.5 * (1.0 + np.tanh(0.5 * x))  # noqa: E731  (sigmoid via tanh: independent form)
        return s, lambda x: s(x) * (1.0 - s(x))
    if name == "hard_sigmoid":
        return (lambda x: np.clip((x + 3.0) / 6.0, 0.0, 1.0)), (lambda x: ((x > -3.0) & (x < 3.0)) / 6.0)
    if name == "relu":
        return (lambda x: np.maximum(x, 0.0)), (lambda x: (x > 0).astype(float))
    if name == "linear":
        return (lambda x: x), (lambda x: np.ones_like(x))
    raise ValueError(name)


def _split(w, n):
    return np.split(w, n, axis=-1)


def forward(
    cell,
    x,
    W,
    U,
    b=None,
    h0=None,
    c0=None,
    mask=None,
    dmask=None,
    rmask=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    reverse=False,
    zero_output=False,
):
    """Run ``cell`` over x (B, T, F); return (outputs (B, T, H), h_T, c_T, trace).

    ``trace`` records, per time step in reading order, what the reference
    backward needs.
    """
    B, T, F = x.shape
    H = U.shape[0]
    f_act, _ = act_fn(activation)
    f_rec, _ = act_fn(recurrent_activation)
    h = np.zeros((B, H)) if h0 is None else np.array(h0, dtype=float)
    c = np.zeros((B, H)) if c0 is None else np.array(c0, dtype=float)
    m = np.ones((B, T), bool) if mask is None else np.asarray(mask, bool)
    dm = np.ones((B, F)) if dmask is None else dmask
    rm = np.ones((B, H)) if rmask is None else rmask
    out = np.zeros((B, T, H))
    trace = []
    steps = range(T - 1, -1, -1) if reverse else range(T)
    for t in steps:
        xt = x[:, t] * dm
        hd = h * rm
        valid = m[:, t][:, None]
        rec = {"t": t, "x": xt, "h_prev": h, "c_prev": c, "hd": hd, "valid": valid}
        if cell == "lstm":
            Wi, Wf, Wc, Wo = _split(W, 4)
            Ui, Uf, Uc, Uo = _split(U, 4)
            bi, bf, bc, bo = _split(np.zeros(4 * H) if b is None else b, 4)
            ai = xt @ Wi + hd @ Ui + bi
            af = xt @ Wf + hd @ Uf + bf
            ac = xt @ Wc + hd @ Uc + bc
            ao = xt @ Wo + hd @ Uo + bo
            c_new = f_rec(af) * c + f_rec(ai) * f_act(ac)
            h_new = f_rec(ao) * f_act(c_new)
            rec.update(ai=ai, af=af, ac=ac, ao=ao, c=c_new)
            c = np.where(valid, c_new, c)
        elif cell == "gru":
            Wz, Wr, Wh = _split(W, 3)
            Uz, Ur, Uh = _split(U, 3)
            if reset_after:
                bb = np.zeros((2, 3 * H)) if b is None else b
                bz, br, bh = _split(bb[0], 3)
                rbz, rbr, rbh = _split(bb[1], 3)
            else:
                bz, br, bh = _split(np.zeros(3 * H) if b is None else b, 3)
                rbz = rbr = rbh = 0.0
            az = xt @ Wz + bz + hd @ Uz + rbz
            ar = xt @ Wr + br + hd @ Ur + rbr
            z = f_rec(az)
            r = f_rec(ar)
            if reset_after:
                u = hd @ Uh + rbh
                ah = xt @ Wh + bh + r * u
            else:
                u = None
                ah = xt @ Wh + bh + (r * hd) @ Uh
            hh = f_act(ah)
            h_new = z * h + (1.0 - z) * hh
            rec.update(az=az, ar=ar, ah=ah, u=u)
        elif cell == "simple":
            a = xt @ W + hd @ U + (0.0 if b is None else b)
            h_new = f_act(a)
            rec.update(a=a)
        else:
            raise ValueError(cell)
        h = np.where(valid, h_new, h)
        out[:, t] = np.where(valid, h, 0.0) if zero_output else h
        trace.append(rec)
    return out, h, c, trace


def backward(
    cell,
    x,
    W,
    U,
    b,
    trace,
    d_out,
    dh_T,
    dc_T=None,
    dmask=None,
    rmask=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    zero_output=False,
):
    """Reference BPTT for :func:`forward`; return dict of gradients.

    d_out : (B, T, H) gradient on every step's output; dh_T, dc_T : gradient on
    the final states.
    """
    B, T, F = x.shape
    H = U.shape[0]
    f_act, d_act = act_fn(activation)
    f_rec, d_rec = act_fn(recurrent_activation)
    dm = np.ones((B, F)) if dmask is None else dmask
    rm = np.ones((B, H)) if rmask is None else rmask
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = None if b is None else np.zeros_like(b)
    dx = np.zeros((B, T, F))
    dh = dh_T.copy()
    dc = np.zeros((B, H)) if dc_T is None else dc_T.copy()
    for rec in reversed(trace):
        t, xt, hp, cp, hd, valid = rec["t"], rec["x"], rec["h_prev"], rec["c_prev"], rec["hd"], rec["valid"]
        g_out = d_out[:, t] * (valid if zero_output else 1.0)
        dh = dh + g_out
        dh_v = np.where(valid, dh, 0.0)  # gradient through the cell (valid rows)
        dh_carry = np.where(valid, 0.0, dh)  # gradient carried past masked steps
        if cell == "lstm":
            ai, af, ac, ao, c = rec["ai"], rec["af"], rec["ac"], rec["ao"], rec["c"]
            dc_v = np.where(valid, dc, 0.0)
            dc_carry = np.where(valid, 0.0, dc)
            d_c = dc_v + dh_v * f_rec(ao) * d_act(c)
            d_ai = d_c * f_act(ac) * d_rec(ai)
            d_af = d_c * cp * d_rec(af)
            d_ac = d_c * f_rec(ai) * d_act(ac)
            d_ao = dh_v * f_act(c) * d_rec(ao)
            da = np.concatenate([d_ai, d_af, d_ac, d_ao], axis=1)
            dW += xt.T @ da
            dU += hd.T @ da
            if db is not None:
                db += da.sum(0)
            dxt = da @ W.T
            dhd = da @ U.T
            dh = dh_carry + dhd * rm
            dc = dc_carry + d_c * f_rec(af)
        elif cell == "gru":
            az, ar, ah, u = rec["az"], rec["ar"], rec["ah"], rec["u"]
            z, r, hh = f_rec(az), f_rec(ar), f_act(ah)
            Uz, Ur, Uh = _split(U, 3)
            d_ah = dh_v * (1.0 - z) * d_act(ah)
            d_az = dh_v * (hp - hh) * d_rec(az)
            dh_direct = dh_v * z
            if reset_after:
                d_ar = d_ah * u * d_rec(ar)
                d_u = d_ah * r
                dU += hd.T @ np.concatenate([d_az, d_ar, d_u], axis=1)
                dhd = d_az @ Uz.T + d_ar @ Ur.T + d_u @ Uh.T
                if db is not None:
                    db[0] += np.concatenate([d_az, d_ar, d_ah], axis=1).sum(0)
                    db[1] += np.concatenate([d_az, d_ar, d_u], axis=1).sum(0)
            else:
                d_rhd = d_ah @ Uh.T
                d_ar = d_rhd * hd * d_rec(ar)
                dU += np.concatenate([hd.T @ d_az, hd.T @ d_ar, (r * hd).T @ d_ah], axis=1)
                dhd = d_az @ Uz.T + d_ar @ Ur.T + d_rhd * r
                if db is not None:
                    db += np.concatenate([d_az, d_ar, d_ah], axis=1).sum(0)
            da = np.concatenate([d_az, d_ar, d_ah], axis=1)
            dW += xt.T @ da
            dxt = da @ W.T
            dh = dh_carry + dh_direct + dhd * rm
        else:
            da = dh_v * d_act(rec["a"])
            dW += xt.T @ da
            dU += hd.T @ da
            if db is not None:
                db += da.sum(0)
            dxt = da @ W.T
            dh = dh_carry + (da @ U.T) * rm
        dx[:, t] = dxt * dm
    return {"x": dx, "h0": dh, "c0": dc if cell == "lstm" else None, "kernel": dW, "recurrent_kernel": dU, "bias": db}
