"""The interaction families: each scripts two Actors over time from random parameters (who initiates, which
hand, distance, speed, repetitions, heights, duration) and names the contacts it intends.

Conventions: person A initiates and starts at the origin facing +Z; person B starts in front of A facing -Z.
Times are seconds from `ctx.s0`, the moment the interaction itself starts (later than 0 when the two first
walk up to each other: "walk towards each other and shake hands")."""

from dataclasses import dataclass, field

import numpy as np

from ..motion.kinematics import REST_OFFSETS, rest_positions
from .body import Actor, Body, Goal, SIDES
from .timeline import envelope, eased, heading, pulses, towards, walked

_REST = rest_positions(REST_OFFSETS)
_SHOULDER = _REST[16]  # left shoulder at scale 1: (lateral, height, forward)
_ARM = np.linalg.norm(REST_OFFSETS[18]) + np.linalg.norm(REST_OFFSETS[20])
_CHEST_Y = _REST[9, 1]
OTHER = {"left": "right", "right": "left"}


@dataclass
class Contact:
    """Person `a`'s joint should touch person `b`'s joint (or its own, when a == b) on the frames in `when`."""
    a: int
    joint_a: str
    b: int
    joint_b: str
    when: np.ndarray


@dataclass
class Scene:
    positions: tuple  # two (T, 22, 3) arrays: the initiator first
    contacts: list
    slots: dict = field(default_factory=dict)  # caption slots: hand, ...


class Ctx:
    """Random parameters shared by all families, and the clock."""

    def __init__(self, rng, fps, approach=False):
        self.rng, self.fps, self.approach = rng, fps, approach
        self.heights = rng.uniform(1.5, 1.95, size=2)
        self.hand = "right" if rng.random() < 0.75 else "left"
        self.s0 = rng.uniform(2.0, 3.2) if approach else 0.0

    def clock(self, seconds):
        """Fix the scene length (the approach included) and return frame times t (T,)."""
        seconds = float(np.clip(self.s0 + seconds, 2.0, 10.0))
        self.T = int(round(seconds * self.fps))
        self.t = np.arange(self.T) / self.fps
        return self.t

    def u(self, lo, hi):
        return float(self.rng.uniform(lo, hi))

    def i(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    def scale(self, k):
        return self.heights[k] / 1.71


def constant(T, value):
    return np.full(T, float(value))


def meeting(ctx, below, bend=0.8, same_side=False):
    """Where two facing persons' hands can meet: the height (`below` arm lengths under the lower shoulder,
    kept within reach of the taller person), the pelvis-to-pelvis distance at which both arms are at `bend`
    of their length, and how far along A's shoulder -> B's shoulder the point lies. Diagonal hands (both
    right) meet on the centre line; same-side hands (A's right, B's left) in line."""
    s = [ctx.scale(k) for k in range(2)]
    shoulder = [_SHOULDER[1] * k - 0.015 * k for k in s]
    arm = [_ARM * k for k in s]
    height = min(shoulder) - below * min(arm)
    height = float(np.clip(height, max(sh - 0.7 * a for sh, a in zip(shoulder, arm)),
                           min(sh + 0.7 * a for sh, a in zip(shoulder, arm))))
    forward = []
    for k in range(2):
        lateral = 0.0 if same_side else _SHOULDER[0] * s[k]
        dy = shoulder[k] - height
        forward.append(np.sqrt(max((bend * arm[k]) ** 2 - dy ** 2 - lateral ** 2, (0.08 * s[k]) ** 2)))
    distance = sum(forward) + _SHOULDER[2] * (s[0] + s[1])
    if distance < 0.5 * (s[0] + s[1]) and below > -0.4:  # too close for two bodies: meet higher up
        return meeting(ctx, below - 0.1, bend, same_side)
    return height, distance, forward[0] / (forward[0] + forward[1])


def touch_distance(ctx, target_height, bend=0.85, extra=0.0):
    """Pelvis distance at which A's hand reaches a point on B at `target_height`, `extra` in front of B."""
    s = ctx.scale(0)
    dy = _SHOULDER[1] * s - target_height
    return float(np.sqrt(max((bend * _ARM * s) ** 2 - dy ** 2, (0.1 * s) ** 2))) + extra


def pair(ctx, distance, yaw_b=np.pi):
    """Two actors standing `distance` apart facing each other; when the scene starts with an approach they
    first walk in from 1.5-2.5 m further back each and stop at ctx.s0."""
    T, t = ctx.T, ctx.t
    roots = [np.zeros((T, 2)), np.tile([0.0, distance], (T, 1))]
    yaws = [constant(T, 0.0), constant(T, yaw_b)]
    if ctx.approach:
        for k, back in ((0, -1.0), (1, 1.0)):
            end = roots[k][0]
            start = end + np.array([0.0, back * ctx.u(1.5, 2.5)])
            roots[k] = walked(t, [(0.0, start), (ctx.s0 - 0.2, end)])
    actors = [Actor(ctx.heights[k], roots[k], yaws[k], fps=ctx.fps) for k in range(2)]
    return actors


def meet_point(body_a, joint_a, body_b, joint_b, height, fraction=None):
    """A point (T, 3) at `height` between two joints, `fraction` of the way from A's (default: in
    proportion to the two arms' lengths)."""
    pa, pb = body_a.joint(joint_a), body_b.joint(joint_b)
    if fraction is None:
        la, lb = body_a.arm_length("left"), body_b.arm_length("left")
        fraction = la / (la + lb)
    point = pa + (pb - pa) * fraction
    point[:, 1] = height
    return point


def grip(body_a, side_a, body_b, side_b, below):
    """A point (T, 3) where two persons of any heights and postures can hold hands: between their
    shoulders, `below` arm lengths under the shoulders' mean height."""
    arm = min(body_a.arm_length(side_a), body_b.arm_length(side_b))
    height = (body_a.joint(f"{side_a}_shoulder")[:, 1] + body_b.joint(f"{side_b}_shoulder")[:, 1]) / 2 - below * arm
    return meet_point(body_a, f"{side_a}_shoulder", body_b, f"{side_b}_shoulder", height)


def build(actors):
    return [Body(a) for a in actors]


def finish(bodies, contacts, **slots):
    return Scene(tuple(b.finish() for b in bodies), contacts, slots)


def in_front(body, distance, height, lateral=0.0):
    """A point `distance` ahead of the pelvis at `height`, shifted to the person's left by `lateral`."""
    f = body.forward()
    left = np.stack([f[:, 2], np.zeros_like(f[:, 0]), -f[:, 0]], -1)
    p = body.joint("pelvis") + f * distance + left * lateral
    p[:, 1] = height
    return p


# -------------------------------------------------------------------------- hands meeting, standing

def _hands_meet(ctx, below, bend, contact_len, lag, repeat=1, shake=0.0, same_side=False):
    """Shared script of handshake, high five, fist bump and passing: A's hand goes out, B's follows `lag` s
    later, they touch for `contact_len` s (optionally `repeat` times, optionally shaking), then withdraw."""
    ha, hb = ctx.hand, (OTHER[ctx.hand] if same_side else ctx.hand)
    height, d, fraction = meeting(ctx, below, bend, same_side)
    reach = ctx.u(0.5, 0.9)
    t = ctx.clock(0.4 + reach + lag + repeat * (contact_len + 0.4) + ctx.u(0.6, 1.2))
    actors = pair(ctx, d)
    A, B = build(actors)
    point = meet_point(A, f"{ha}_shoulder", B, f"{hb}_shoulder", height, fraction)
    t_touch = ctx.s0 + 0.4 + reach + lag
    period = contact_len + 0.4
    end = t_touch + repeat * period - 0.4
    if shake:
        point[:, 1] += shake * np.sin(2 * np.pi * 2.5 * (t - t_touch)) * envelope(t, t_touch, end, 0.2)
    w_rep = 1.0  # between repeated touches both hands pull back a little
    if repeat > 1:
        w_rep = 1.0 - 0.35 * pulses(t, t_touch + contact_len, period, repeat - 1)
    wa = envelope(t, ctx.s0 + 0.4, end + 0.5, reach + lag) * w_rep
    wb = envelope(t, ctx.s0 + 0.4 + lag, end + 0.5, reach) * w_rep
    actors[0].hands[ha] = Goal(point, wa)
    actors[1].hands[hb] = Goal(point, wb)
    touching = (wa > 0.999) & (wb > 0.999)
    return [A, B], [Contact(0, f"{ha}_wrist", 1, f"{hb}_wrist", touching)], {"hand": ha}


def handshake(ctx):
    bodies, contacts, slots = _hands_meet(ctx, 0.6, 0.8, ctx.u(1.0, 2.2), ctx.u(0.1, 0.4),
                                          shake=ctx.u(0.02, 0.05))
    return finish(bodies, contacts, **slots)


def high_five(ctx):
    bodies, contacts, slots = _hands_meet(ctx, -0.55, 0.85, 0.12, ctx.u(0.0, 0.2), repeat=ctx.i(1, 2))
    return finish(bodies, contacts, **slots)


def fist_bump(ctx):
    bodies, contacts, slots = _hands_meet(ctx, 0.35, 0.8, 0.15, ctx.u(0.0, 0.3), repeat=ctx.i(1, 2))
    return finish(bodies, contacts, **slots)


def pass_object(ctx):
    ha = ctx.hand
    bodies, contacts, slots = _hands_meet(ctx, 0.55, 0.78, ctx.u(0.4, 0.8), ctx.u(0.3, 0.6))
    A, B = bodies
    t = ctx.t
    # afterwards the receiver keeps the object in front of the chest
    done = contacts[0].when.nonzero()[0]
    t_end = t[done[-1]] if len(done) else t[-1]
    hold = in_front(B, 0.3 * ctx.scale(1), _CHEST_Y * ctx.scale(1) - 0.1, lateral=0.1 * (1 if ha == "left" else -1))
    goal = B.actor.hands[ha]
    w_hold = np.clip((t - t_end) / 0.5, 0, 1)[:, None]
    goal.point = goal.point * (1 - w_hold) + hold * w_hold
    goal.weight = np.maximum(goal.weight, envelope(t, t_end, t[-1] + 1, 0.5))
    return finish(bodies, contacts, **slots)


def hug(ctx):
    d = 0.3 * (ctx.scale(0) + ctx.scale(1)) / 2 + ctx.u(0.02, 0.05)
    hold = ctx.u(1.5, 3.5)
    t = ctx.clock(0.5 + 0.9 + hold + 1.0)
    actors = pair(ctx, d)
    for a in actors:
        a.bow = 0.12 * envelope(t, ctx.s0 + 0.3, ctx.s0 + 1.4 + hold + 0.2, 0.6)
    A, B = build(actors)
    contacts = []
    w = envelope(t, ctx.s0 + 0.4, ctx.s0 + 1.3 + hold + 0.4, 0.9)
    high = ctx.rng.random() < 0.5  # who reaches over whose shoulders
    for k, (me, other) in enumerate(((A, B), (B, A))):
        target_joint = "spine3" if (k == 0) == high else "spine2"
        back = other.joint(target_joint) - other.forward() * (0.12 * other.actor.scale)
        f = other.forward()
        side_dir = np.stack([f[:, 2], np.zeros(ctx.T), -f[:, 0]], -1)  # the other's left
        for side in SIDES:
            sign = 1.0 if side == "left" else -1.0  # my left hand goes to the other's right side
            point = back - side_dir * (sign * 0.06 * other.actor.scale)
            me.actor.hands[side] = Goal(point, w, pole=np.array([sign * 1.0, -0.3, 0.0]))  # elbows out
        contacts.append(Contact(k, "spine3", 1 - k, "spine3", w > 0.999))
    return finish([A, B], [], reaching="hug")


# -------------------------------------------------------------------------------- gestures at a distance

def wave(ctx):
    d = ctx.u(2.0, 4.0)
    n = ctx.i(2, 4)
    lag = ctx.u(0.3, 1.0)
    t = ctx.clock(0.5 + lag + n * 0.5 + 1.2)
    actors = pair(ctx, d)
    A, B = build(actors)
    for k, (body, start) in enumerate(((A, ctx.s0 + 0.3), (B, ctx.s0 + 0.3 + lag))):
        side = ctx.hand if k == 0 else (ctx.hand if ctx.rng.random() < 0.7 else OTHER[ctx.hand])
        s = body.actor.scale
        shoulder = body.joint(f"{side}_shoulder")
        f = body.forward()
        left = np.stack([f[:, 2], np.zeros(ctx.T), -f[:, 0]], -1)
        sign = 1.0 if side == "left" else -1.0
        swing = 0.12 * s * np.sin(2 * np.pi * 2.0 * (t - start))
        point = shoulder + left * (sign * 0.15 * s + swing[:, None]) + f * (0.12 * s)
        point[:, 1] = shoulder[:, 1] + 0.3 * s
        body.actor.hands[side] = Goal(point, envelope(t, start, start + 0.5 + n * 0.5, 0.35))
    return finish([A, B], [], hand=ctx.hand)


def bow(ctx):
    d = ctx.u(1.3, 2.4)
    depth = ctx.u(0.45, 0.9)
    lag = ctx.u(0.2, 0.9)
    hold = ctx.u(0.4, 1.2)
    t = ctx.clock(0.3 + lag + 2.0 + hold + 0.6)
    actors = pair(ctx, d)
    for k, a in enumerate(actors):
        start = ctx.s0 + 0.3 + (lag if k else 0.0)
        a.bow = depth * (1 - 0.2 * k) * envelope(t, start, start + 2.0 + hold, 0.9)
        a.nod = 0.3 * a.bow
    A, B = build(actors)
    return finish([A, B], [])


def point_argue(ctx):
    d = ctx.u(1.0, 1.6)
    turns = ctx.i(2, 4)
    span = ctx.u(0.9, 1.4)
    t = ctx.clock(0.3 + turns * span + 0.6)
    actors = pair(ctx, d)
    weights = []
    for k, actor in enumerate(actors):  # the two take turns, leaning in while they point
        w = np.zeros(ctx.T)
        for turn in range(k, turns, 2):
            start = ctx.s0 + 0.3 + turn * span
            w = np.maximum(w, envelope(t, start, start + span, 0.25))
        actor.bow, actor.nod = 0.12 * w, -0.1 * w
        weights.append(w)
    bodies = build(actors)
    jab = 0.06 * np.sin(2 * np.pi * 2.5 * t) ** 2
    for k, body in enumerate(bodies):
        side = ctx.hand if k == 0 else ("right" if ctx.rng.random() < 0.75 else "left")
        shoulder = body.joint(f"{side}_shoulder")
        aim = bodies[1 - k].joint("head") - shoulder
        aim /= np.linalg.norm(aim, axis=-1, keepdims=True)
        body.actor.hands[side] = Goal(shoulder + aim * (0.92 * body.arm_length(side) - jab[:, None]), weights[k])
    return finish(bodies, [], hand=ctx.hand)


def clap_together(ctx):
    """Clapping games: each claps their own hands, then both of the partner's, repeatedly."""
    height, d, fraction = meeting(ctx, 0.4, 0.78, same_side=True)
    n = ctx.i(2, 4)
    beat = ctx.u(0.45, 0.7)
    t = ctx.clock(0.6 + n * 2 * beat + 0.8)
    actors = pair(ctx, d)
    A, B = build(actors)
    start = ctx.s0 + 0.6
    up = envelope(t, ctx.s0 + 0.1, start + n * 2 * beat + 0.1, 0.45)
    phase = np.clip((t - start) / beat, 0, None)
    own = (np.floor(phase) % 2 == 0) & (t >= start) & (t < start + n * 2 * beat)
    k_own = np.where(own, np.sin(np.pi * (phase % 1.0)) ** 2, 0.0)
    k_part = np.where(~own & (t >= start) & (t < start + n * 2 * beat), np.sin(np.pi * (phase % 1.0)) ** 2, 0.0)
    contacts = []
    for k, body in enumerate((A, B)):
        other = B if k == 0 else A
        s = body.actor.scale
        own_point = in_front(body, 0.3 * s, height)
        for side in SIDES:
            partner = meet_point(body, f"{side}_shoulder", other, f"{OTHER[side]}_shoulder", height,
                                 fraction if k == 0 else 1 - fraction)
            ready = in_front(body, 0.3 * s, height, lateral=(0.16 if side == "left" else -0.16) * s)
            point = ready + (own_point - ready) * k_own[:, None] + (partner - ready) * k_part[:, None]
            body.actor.hands[side] = Goal(point, up)
    raised = up > 0.999
    for side in SIDES:
        contacts.append(Contact(0, f"{side}_wrist", 1, f"{OTHER[side]}_wrist", (k_part > 0.999) & raised))
    contacts.append(Contact(0, "left_wrist", 0, "right_wrist", (k_own > 0.999) & raised))
    return finish([A, B], contacts)


# ------------------------------------------------------------------------------------ touch and force

def pat_shoulder(ctx):
    d = touch_distance(ctx, _SHOULDER[1] * ctx.scale(1), ctx.u(0.75, 0.88))
    n = ctx.i(2, 4)
    t = ctx.clock(0.4 + 0.7 + n * 0.35 + 0.8)
    actors = pair(ctx, d)
    A, B = build(actors)
    side = ctx.hand
    target = B.joint(f"{OTHER[side]}_shoulder") + np.array([0.0, 0.04 * ctx.scale(1), 0.0])
    start = ctx.s0 + 1.1
    target = target + np.array([0.0, 1.0, 0.0]) * (0.06 * pulses(t, start, 0.35, n))[:, None]
    w = envelope(t, ctx.s0 + 0.4, start + n * 0.35 + 0.3, 0.6)
    A.actor.hands[side] = Goal(target, w)
    B.actor.nod = 0.15 * w
    return finish([A, B], [], hand=side)


def push(ctx):
    d = touch_distance(ctx, _CHEST_Y * ctx.scale(1), ctx.u(0.75, 0.85), extra=0.12 * ctx.scale(1) + 0.08)
    t_hit = ctx.s0 + ctx.u(0.7, 1.1)
    back = ctx.u(0.4, 0.9)
    t = ctx.clock(t_hit - ctx.s0 + 1.8)
    actors = pair(ctx, d)
    A, B = actors
    B.root = B.root + np.stack([np.zeros(ctx.T), eased(t, [(t_hit + 0.05, 0.0), (t_hit + 0.85, back)])], -1)
    B.bow = -0.3 * envelope(t, t_hit - 0.05, t_hit + 1.0, 0.3)
    A.root = A.root + np.stack([np.zeros(ctx.T), eased(t, [(t_hit - 0.6, 0.0), (t_hit, 0.08), (t_hit + 0.6, 0.3)])], -1)
    A.bow = 0.2 * envelope(t, t_hit - 0.6, t_hit + 0.6, 0.3)
    bodies = build(actors)
    Ab, Bb = bodies
    w = envelope(t, t_hit - 0.55, t_hit + 0.4, 0.35)
    for side in SIDES:
        lateral = (0.12 if side == "left" else -0.12) * ctx.scale(1)
        chest = Bb.joint("spine3") + Bb.forward() * (0.11 * ctx.scale(1))
        f = Bb.forward()
        left_b = np.stack([f[:, 2], np.zeros(ctx.T), -f[:, 0]], -1)
        A.hands[side] = Goal(chest - left_b * lateral, w)  # my left hand on the partner's right chest
    return finish(bodies, [])


def _strike(ctx, blocked):
    d = touch_distance(ctx, (_REST[15, 1] - 0.05) * ctx.scale(1), ctx.u(0.85, 0.92), extra=0.3 * ctx.scale(1))
    n = ctx.i(1, 3)
    period = ctx.u(0.7, 1.0)
    t = ctx.clock(0.6 + n * period + 0.6)
    actors = pair(ctx, d)
    A, B = actors
    side = ctx.hand
    start = ctx.s0 + 0.6
    strikes = pulses(t, start, period, n) ** 0.5
    guard = envelope(t, ctx.s0, t[-1] + 1, 0.4)
    A.twist = (0.25 if side == "right" else -0.25) * strikes
    A.bow = 0.1 * strikes
    if not blocked:  # duck and lean away from the incoming fist
        B.drop = 0.12 * ctx.scale(1) * strikes
        B.side = (0.35 if side == "right" else -0.35) * strikes
        B.bow = 0.15 * strikes
    bodies = build(actors)
    Ab, Bb = bodies
    for k, body in enumerate(bodies):  # a fighting guard in front of the face
        s = body.actor.scale
        for hand in SIDES:
            g = in_front(body, 0.28 * s, body.joint("head")[:, 1] - 0.12 * s, lateral=(0.1 if hand == "left" else -0.1) * s)
            body.actor.hands[hand] = Goal(g, guard)
    head_b = Bb.joint("head")
    if blocked:
        block_side = OTHER[side]  # the partner's arm on the same side as the punch comes in
        block = in_front(Bb, 0.32 * ctx.scale(1), head_b[:, 1] - 0.05, lateral=(0.12 if block_side == "left" else -0.12))
        Bb.actor.hands[block_side] = Goal(block, guard)
        target = block
    else:
        target = np.repeat(head_b[:1], ctx.T, axis=0)  # aimed where the head was; it has moved away
    guard_point = Ab.actor.hands[side].point
    Ab.actor.hands[side] = Goal(guard_point + (target - guard_point) * strikes[:, None], guard)
    contacts = [Contact(0, f"{side}_wrist", 1, f"{OTHER[side]}_wrist", (strikes > 0.999) & (guard > 0.999))] \
        if blocked else []
    return finish(bodies, contacts, hand=side)


def punch_dodge(ctx):
    return _strike(ctx, blocked=False)


def punch_block(ctx):
    return _strike(ctx, blocked=True)


def kick(ctx):
    d = ctx.u(0.95, 1.15) * (ctx.scale(0) + ctx.scale(1)) / 2
    t_kick = ctx.s0 + ctx.u(0.6, 1.0)
    t = ctx.clock(t_kick - ctx.s0 + 1.6)
    actors = pair(ctx, d)
    A, B = actors
    side = ctx.hand
    w = envelope(t, t_kick - 0.35, t_kick + 0.45, 0.35)
    s = ctx.scale(0)
    hip_x = (0.085 if side == "left" else -0.085) * s
    point = np.tile([hip_x, ctx.u(0.45, 0.8) * s, 0.75 * s], (ctx.T, 1))
    A.kick = (side, Goal(point, w))
    A.bow = -0.2 * w
    A.side = (0.15 if side == "right" else -0.15) * w
    back = ctx.u(0.2, 0.5)
    B.root = B.root + np.stack([np.zeros(ctx.T), eased(t, [(t_kick, 0.0), (t_kick + 0.6, back)])], -1)
    B.bow = 0.35 * envelope(t, t_kick - 0.05, t_kick + 1.0, 0.3)
    return finish(build(actors), [], hand=side)


def help_stand_up(ctx):
    low = ctx.u(0.3, 0.42)
    t_grab = ctx.s0 + ctx.u(0.8, 1.2)
    rise = ctx.u(1.0, 1.6)
    t = ctx.clock(t_grab - ctx.s0 + 0.3 + rise + 1.0)
    d = ctx.u(0.6, 0.7) * (ctx.scale(0) + ctx.scale(1)) / 2
    actors = pair(ctx, d)
    A, B = actors
    up = eased(t, [(t_grab + 0.3, 0.0), (t_grab + 0.3 + rise, 1.0)])
    B.drop = low * ctx.scale(1) * (1 - up)
    B.bow = 0.6 * (1 - up)
    A.bow = 0.55 * (1 - up) * envelope(t, ctx.s0, t[-1] + 1, 0.6)
    bodies = build(actors)
    Ab, Bb = bodies
    side = ctx.hand
    point = grip(Ab, side, Bb, side, 0.35)
    wa = envelope(t, t_grab - 0.7, t_grab + 0.3 + rise + 0.4, 0.6)
    wb = envelope(t, t_grab - 0.5, t_grab + 0.3 + rise + 0.4, 0.4)
    A.hands[side], B.hands[side] = Goal(point, wa), Goal(point, wb)
    return finish(bodies, [Contact(0, f"{side}_wrist", 1, f"{side}_wrist", (wa > 0.999) & (wb > 0.999))], hand=side)


def tug_of_war(ctx):
    d = ctx.u(2.0, 2.8)
    n = ctx.i(2, 4)
    t = ctx.clock(0.8 + n * ctx.u(0.8, 1.2) + 1.0)
    rope_y = 0.55 * min(ctx.heights)
    jerks = ctx.rng.normal(0, 0.15, size=n + 1)
    keys = [(ctx.s0 + 0.8 + i * (t[-1] - ctx.s0 - 1.0) / n, float(np.cumsum(jerks)[i])) for i in range(n + 1)]
    shift = eased(t, [(ctx.s0, 0.0)] + keys)
    actors = pair(ctx, d)
    A, B = actors
    A.root = A.root + np.stack([np.zeros(ctx.T), shift], -1)
    B.root = B.root + np.stack([np.zeros(ctx.T), shift], -1)
    grip = envelope(t, ctx.s0 + 0.1, t[-1] + 1, 0.6)
    for a in actors:
        a.bow = -0.3 * grip
        a.drop = 0.1 * a.scale * grip
        a.stance_width = 1.4
    bodies = build(actors)
    for k, body in enumerate(bodies):
        z0 = body.joint("pelvis")[:, 2]
        direction = 1.0 if k == 0 else -1.0
        for side, ahead in ((ctx.hand, 0.5), (OTHER[ctx.hand], 0.28)):
            p = np.stack([np.zeros(ctx.T), np.full(ctx.T, rope_y), z0 + direction * ahead * body.actor.scale], -1)
            body.actor.hands[side] = Goal(p, grip)
    return finish(bodies, [])


# ---------------------------------------------------------------------------------------- locomotion

def _speed(ctx, lo=0.7, hi=1.2):
    return ctx.u(lo, hi)


def approach_stop(ctx):
    """Both (or only A) walk towards each other and stop face to face."""
    both = ctx.rng.random() < 0.6
    gap = ctx.u(0.8, 1.3)
    start_d = ctx.u(3.0, 5.5)
    v = _speed(ctx)
    walk = (start_d - gap) / (v * (2 if both else 1))
    t = ctx.clock(walk + 1.0 + ctx.u(0.3, 1.0))
    end_a = (start_d - gap) / 2 if both else start_d - gap
    A = Actor(ctx.heights[0], walked(t, [(0.3, (0.0, 0.0)), (0.3 + walk, (0.0, end_a))]), constant(ctx.T, 0.0),
              fps=ctx.fps)
    end_b = end_a + gap
    B = Actor(ctx.heights[1], walked(t, [(0.3, (0.0, start_d)), (0.3 + walk, (0.0, end_b if both else start_d))]),
              constant(ctx.T, np.pi), fps=ctx.fps)
    return finish(build([A, B]), [], both=both)


def walk_past(ctx):
    start_d = ctx.u(4.0, 6.0)
    lateral = ctx.u(0.55, 0.9)
    v = _speed(ctx)
    walk = start_d / v * 0.75
    t = ctx.clock(walk + 0.6)
    sign = 1 if ctx.rng.random() < 0.5 else -1
    A = Actor(ctx.heights[0], walked(t, [(0.2, (0.0, 0.0)), (0.2 + walk, (0.0, start_d * 0.75 * 2 / 2 + 1.2))]),
              constant(ctx.T, 0.0), fps=ctx.fps)
    B = Actor(ctx.heights[1], walked(t, [(0.2, (sign * lateral, start_d)),
                                         (0.2 + walk, (sign * lateral, start_d - (start_d * 0.75 + 1.2)))]),
              constant(ctx.T, np.pi), fps=ctx.fps)
    return finish(build([A, B]), [])


def _wander(ctx, v, seconds):
    """A random smooth walking path of `seconds` at speed `v`, from the origin heading +Z."""
    n = max(2, int(seconds / 1.5))
    headings = np.cumsum(ctx.rng.normal(0, 0.5, size=n))
    points = [np.zeros(2)]
    for h in headings:
        points.append(points[-1] + v * 1.5 * np.array([np.sin(h), np.cos(h)]))
    times = np.linspace(0.2, 0.2 + 1.5 * n, n + 1)
    return list(zip(times, points))


def _follow(ctx, v, gap, swing, settle=0.08):
    """A walks (or runs) a random path from rest; B starts `gap` behind and takes the same path."""
    seconds = ctx.u(4.0, 8.0)
    t = ctx.clock(seconds)
    keys = _wander(ctx, v, seconds + 2)
    first = keys[1][1] - keys[0][1]
    behind = keys[0][1] - gap * first / np.linalg.norm(first)
    path_a = walked(t, keys)
    path_b = walked(t, [(0.2, behind)] + [(time + gap / v, point) for time, point in keys])
    A, B = (Actor(ctx.heights[k], path, heading(path, constant(ctx.T, heading(path, constant(ctx.T, 0.0))[-1])),
                  swing_seconds=swing, settle_seconds=settle, fps=ctx.fps)
            for k, path in ((0, path_a), (1, path_b)))
    return finish(build([A, B]), [])


def follow(ctx):
    return _follow(ctx, _speed(ctx, 0.7, 1.2), ctx.u(1.2, 2.0), 0.36)


def chase(ctx):
    return _follow(ctx, _speed(ctx, 1.5, 2.0), ctx.u(1.5, 2.5), 0.3, settle=0.04)


def circle(ctx):
    r = ctx.u(0.8, 1.3)
    omega = ctx.u(0.5, 0.9) * (1 if ctx.rng.random() < 0.5 else -1)
    t = ctx.clock(ctx.u(4.0, 8.0))
    angle = omega * eased(t, [(0.0, 0.0), (1.0, 0.5), (t[-1], t[-1] - 0.5)])
    centre = np.array([0.0, r])
    roots = [centre + r * np.stack([np.sin(angle + k * np.pi + np.pi), np.cos(angle + k * np.pi + np.pi)], -1)
             for k in range(2)]
    actors = [Actor(ctx.heights[k], roots[k], towards(roots[k], roots[1 - k]), swing_seconds=0.36,
                    fps=ctx.fps) for k in range(2)]
    for a in actors:
        a.bow = constant(ctx.T, 0.12)
        a.drop = constant(ctx.T, 0.06 * a.scale)
    return finish(build(actors), [])


def approach_retreat(ctx):
    gap = ctx.u(1.0, 1.6)
    v = _speed(ctx, 0.6, 1.0)
    walk = ctx.u(2.0, 4.0)
    t = ctx.clock(0.5 + walk + 1.0)
    travel = v * walk
    A = Actor(ctx.heights[0], walked(t, [(0.4, (0.0, 0.0)), (0.4 + walk, (0.0, travel))]), constant(ctx.T, 0.0),
              fps=ctx.fps)
    B = Actor(ctx.heights[1], walked(t, [(0.7, (0.0, gap)), (0.7 + walk, (0.0, gap + travel * 0.9))]),
              constant(ctx.T, np.pi), swing_seconds=0.36, fps=ctx.fps)
    bodies = build([A, B])
    Bb = bodies[1]
    w = envelope(t, 0.5, 0.7 + walk + 0.3, 0.4)
    for side in SIDES:  # palms raised towards the approaching person
        Bb.actor.hands[side] = Goal(in_front(Bb, 0.32 * Bb.actor.scale, _CHEST_Y * Bb.actor.scale,
                                             (0.15 if side == "left" else -0.15) * Bb.actor.scale), w)
    return finish(bodies, [])


def pull_by_hand(ctx):
    """A stands in front of B facing away, reaches back for B's hand (the same side: both face the same
    way) and walks off, pulling B along behind."""
    gap = 0.72 * (ctx.scale(0) + ctx.scale(1)) / 2
    v = _speed(ctx, 0.7, 1.1)
    t_grab = ctx.s0 + 0.8
    walk = ctx.u(2.0, 4.0)
    t = ctx.clock(0.8 + 0.4 + walk + 0.8)
    side = ctx.hand
    go = t_grab + 0.4
    lag = 0.0
    path_a = walked(t, [(go, (0.0, 0.0)), (go + walk, (0.0, -v * walk))])
    path_b = walked(t, [(go + lag, (0.0, gap)), (go + walk + lag, (0.0, gap - v * walk))])
    A = Actor(ctx.heights[0], path_a, constant(ctx.T, np.pi), fps=ctx.fps)
    B = Actor(ctx.heights[1], path_b, constant(ctx.T, np.pi), fps=ctx.fps)
    B.bow = 0.15 * envelope(t, go, go + walk + 0.3, 0.4)
    bodies = build([A, B])
    Ab, Bb = bodies
    point = grip(Ab, side, Bb, side, 0.45)
    wa = envelope(t, t_grab - 0.6, t[-1] + 1, 0.5)
    wb = envelope(t, t_grab - 0.4, t[-1] + 1, 0.4)
    A.hands[side] = Goal(point, wa, pole=np.array([(1.0 if side == "left" else -1.0) * 0.3, -1.0, 0.5]))
    B.hands[side] = Goal(point, wb)
    return finish(bodies, [Contact(0, f"{side}_wrist", 1, f"{side}_wrist", (wa > 0.999) & (wb > 0.999))],
                  hand=side)


def slow_dance(ctx):
    height, d, fraction = meeting(ctx, 0.55, 0.92, same_side=True)
    t = ctx.clock(ctx.u(5.0, 9.0))
    omega = ctx.u(0.25, 0.5)
    angle = omega * t
    sway = 0.05 * np.sin(2 * np.pi * 0.5 * t)
    centre = np.array([0.0, d / 2])
    roots = []
    for k in range(2):
        a = angle + (np.pi if k == 0 else 0.0)
        r = centre + (d / 2) * np.stack([np.sin(a), np.cos(a)], -1)
        roots.append(r + sway[:, None] * np.stack([np.cos(angle), -np.sin(angle)], -1))
    actors = [Actor(ctx.heights[k], roots[k], towards(roots[k], roots[1 - k]), fps=ctx.fps) for k in range(2)]
    for a in actors:
        a.side = 0.06 * np.sin(2 * np.pi * 0.5 * t)
    bodies = build(actors)
    Ab, Bb = bodies
    w = envelope(t, 0.0, t[-1] + 1, 0.5)
    contacts = []
    for side in SIDES:
        point = meet_point(Ab, f"{side}_shoulder", Bb, f"{OTHER[side]}_shoulder", height, fraction)
        Ab.actor.hands[side] = Goal(point, w)
        Bb.actor.hands[OTHER[side]] = Goal(point, w)
        contacts.append(Contact(0, f"{side}_wrist", 1, f"{OTHER[side]}_wrist", w > 0.999))
    return finish(bodies, contacts)


FAMILIES = {
    "handshake": handshake, "high_five": high_five, "fist_bump": fist_bump, "hug": hug, "wave": wave,
    "bow": bow, "pat_shoulder": pat_shoulder, "push": push, "punch_dodge": punch_dodge,
    "punch_block": punch_block, "kick": kick, "pull_by_hand": pull_by_hand, "pass_object": pass_object,
    "approach_stop": approach_stop, "walk_past": walk_past, "follow": follow, "chase": chase, "circle": circle,
    "slow_dance": slow_dance, "point_argue": point_argue, "clap_together": clap_together,
    "help_stand_up": help_stand_up, "tug_of_war": tug_of_war, "approach_retreat": approach_retreat,
}
# Families that can follow a walk towards each other ("walk up to each other and shake hands").
APPROACHABLE = ("handshake", "high_five", "fist_bump", "hug", "bow", "pat_shoulder", "push", "pass_object",
                "punch_block", "wave")
