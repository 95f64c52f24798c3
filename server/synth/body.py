"""A procedural body: per-frame channels of one person (root path, facing, torso bend, hand and foot goals)
-> SMPL-22 joint positions (T, 22, 3) in model space (metres, Y up, +Z forward at yaw 0, left on +X).

Bone lengths are those of our rest skeleton scaled to the person's height, exactly, on every frame: limbs are
placed by two-bone IK, feet by a footstep planner that keeps a stance foot fixed until it steps, and the pelvis
is lowered whenever a planted foot would otherwise be out of the leg's reach, so stance feet never slide."""

from dataclasses import dataclass, field

import numpy as np

from ..motion import skeleton as sk
from ..motion.kinematics import REST_OFFSETS, standing_height

J = sk.JOINT_INDEX
UP = np.array([0.0, 1.0, 0.0])
SIDES = ("left", "right")
_SIGN = {"left": 1.0, "right": -1.0}  # the person's left is +X in their own frame


def rot_x(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def apply(R, v):
    """(T, 3, 3) @ (3,) or (T, 3) -> (T, 3)."""
    return np.einsum("tij,tj->ti", R, np.broadcast_to(v, (R.shape[0], 3)))


def facing(yaw):
    """Unit forward vectors (T, 3) for facing angles (T,) about +Y; yaw 0 faces +Z."""
    return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone(root, goal, l1, l2, pole):
    """Middle and end joints (T, 3) of a two-bone limb from `root` towards `goal`, bending towards `pole`.
    The goal is clamped to 99.9 % of the reach, so the limb never snaps straight."""
    d = goal - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    direction = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-4, 0.999 * (l1 + l2))
    cos_a = np.clip((l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist), -1.0, 1.0)
    bend = _unit(pole - np.sum(pole * direction, -1, keepdims=True) * direction)
    middle = root + direction * (l1 * cos_a) + bend * (l1 * np.sqrt(1 - cos_a * cos_a))
    return middle, root + direction * dist


def smoothstep(u):
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


@dataclass
class Goal:
    """Where a hand (or a kicking foot) should be, (T, 3) world, and how much it matters, (T,) in 0..1."""
    point: np.ndarray
    weight: np.ndarray
    pole: np.ndarray = None  # where the elbow points, in the chest's frame (x left, y up, z forward)


@dataclass
class Actor:
    """One person's channels over T frames. Angles in radians; lengths in metres."""
    height: float
    root: np.ndarray  # (T, 2) desired pelvis x, z on the floor
    yaw: np.ndarray  # (T,) facing
    bow: np.ndarray = None  # forward bend of the torso (negative leans back)
    side: np.ndarray = None  # lean to the person's left
    twist: np.ndarray = None  # shoulders turned to the left relative to the hips
    drop: np.ndarray = None  # pelvis lowered by (crouching, bracing)
    nod: np.ndarray = None  # head pitched down
    hands: dict = field(default_factory=dict)  # "left"/"right" -> Goal
    kick: tuple = None  # (side, Goal) for a foot that leaves the stance pattern
    swing_seconds: float = 0.36  # duration of one step's swing
    settle_seconds: float = 0.08  # both feet down between steps
    stance_width: float = 1.0  # multiplier of the natural stance width
    fps: int = sk.FPS

    def __post_init__(self):
        T = len(self.yaw)
        for name in ("bow", "side", "twist", "drop", "nod"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(T))

    @property
    def frames(self):
        return len(self.yaw)

    @property
    def scale(self):
        return self.height / standing_height()


# ----------------------------------------------------------------------------------------- footsteps

def plan_feet(actor, offsets):
    """Ankle positions (2, T, 3) and foot yaws (2, T) for the left and right foot following the root path.

    A foot stays exactly where it landed until its error against where it should be half a stride ahead
    grows past a threshold while the other foot is down; it then swings there along a raised arc."""
    T, s = actor.frames, actor.scale
    rest_ankle = {side: offsets[J[f"{side}_hip"]] + offsets[J[f"{side}_knee"]] + offsets[J[f"{side}_ankle"]]
                  for side in SIDES}
    root3 = np.stack([actor.root[:, 0], np.zeros(T), actor.root[:, 1]], -1)
    Ryaw = rot_y(actor.yaw)
    speed = np.linalg.norm(np.gradient(actor.root, axis=0), axis=-1) * actor.fps
    # faster walkers take quicker steps (cadence grows with speed), so the stride stays within leg reach
    quicken = np.clip(1.0 - 0.22 * (speed - 1.0), 0.6, 1.0)
    swings = np.maximum(3, np.round(actor.swing_seconds * quicken * actor.fps)).astype(int)
    settles = np.maximum(1, np.round(actor.settle_seconds * quicken * actor.fps)).astype(int)

    def nominal(side, t):
        v = rest_ankle[side] * np.array([actor.stance_width, 0.0, 1.0])
        p = root3[t] + Ryaw[t] @ v
        p[1] = offsets[0, 1] + rest_ankle[side][1]  # ankle height above the floor at rest
        return p

    ankles = np.zeros((2, T, 3))
    yaws = np.zeros((2, T))
    plant = [nominal(side, 0) for side in SIDES]
    plant_yaw = [actor.yaw[0], actor.yaw[0]]
    flight = [None, None]  # (start frame, start position, start yaw, end position, end yaw, frames)
    landed_at = [0, 0]
    kick_side = SIDES.index(actor.kick[0]) if actor.kick else None
    threshold, turn_threshold = 0.06 * s, np.radians(20)
    for t in range(T):
        for i in range(2):
            if flight[i] is not None and t - flight[i][0] >= flight[i][5]:
                plant[i], plant_yaw[i], flight[i], landed_at[i] = flight[i][3], flight[i][4], None, t
        if flight[0] is None and flight[1] is None:
            ahead = min(T - 1, t + (swings[t] + settles[t] + 1) // 2)
            errors = []
            for i, side in enumerate(SIDES):
                target = nominal(side, ahead)
                turn = abs(np.angle(np.exp(1j * (actor.yaw[ahead] - plant_yaw[i]))))
                err = max(np.linalg.norm(target - plant[i]) / threshold, turn / turn_threshold)
                kicking = i == kick_side and actor.kick[1].weight[max(0, t - 1):t + swings[t]].max() > 0
                errors.append(0.0 if kicking else err)
            due = [i for i in range(2) if errors[i] > 1.0]
            # alternate: of the feet that need to move, the one that landed longest ago steps, once the
            # other foot has been down for a moment
            i = min(due, key=lambda k: (landed_at[k], -errors[k])) if due else None
            if i is not None and t - landed_at[1 - i] >= settles[t]:
                swing, lead = swings[t], (swings[t] + settles[t] + 1) // 2  # land half a stance ahead
                end = min(T - 1, t + swing + lead)
                flight[i] = (t, plant[i].copy(), plant_yaw[i], nominal(SIDES[i], end), actor.yaw[end], swing)
        for i in range(2):
            if flight[i] is None:
                ankles[i, t], yaws[i, t] = plant[i], plant_yaw[i]
            else:
                t0, p0, y0, p1, y1, swing = flight[i]
                u = (t - t0) / swing
                k = smoothstep(u)
                ankles[i, t] = p0 + (p1 - p0) * k + UP * (0.07 * s * np.sin(np.pi * u))
                yaws[i, t] = y0 + np.angle(np.exp(1j * (y1 - y0))) * k
    return ankles, yaws


# ------------------------------------------------------------------------------------------- the body

class Body:
    """Builds one person in two stages: `Body(actor)` places feet, pelvis and torso (so partners can aim at
    this person's shoulders or back); `finish()` adds the arms from the actor's hand goals."""

    def __init__(self, actor: Actor):
        self.actor = actor
        a, T = actor, actor.frames
        self.offsets = off = REST_OFFSETS * a.scale
        self.p = p = np.zeros((T, sk.N_JOINTS, 3))
        self.ankles, self.foot_yaws = plan_feet(a, off)
        if a.kick is not None:
            i = SIDES.index(a.kick[0])
            w = a.kick[1].weight[:, None]
            self.ankles[i] = self.ankles[i] * (1 - w) + a.kick[1].point * w

        self.yaw_R = rot_y(a.yaw)
        self.pelvis_R = self.yaw_R @ rot_x(0.25 * a.bow)
        legs = [np.linalg.norm(off[J[f"{s}_knee"]]) + np.linalg.norm(off[J[f"{s}_ankle"]]) for s in SIDES]
        pelvis = np.stack([a.root[:, 0], off[0, 1] - 0.015 * a.scale - a.drop, a.root[:, 1]], -1)
        for i, side in enumerate(SIDES):  # lower the pelvis until both legs reach their ankles
            hip_off = apply(self.pelvis_R, off[J[f"{side}_hip"]])
            dxz = np.linalg.norm((pelvis + hip_off - self.ankles[i])[:, [0, 2]], axis=-1)
            reach = 0.995 * legs[i]
            highest = self.ankles[i][:, 1] + np.sqrt(np.maximum(reach ** 2 - dxz ** 2, 0.0)) - hip_off[:, 1]
            pelvis[:, 1] = np.minimum(pelvis[:, 1], highest)
        p[:, 0] = pelvis

        spine = [self.yaw_R @ rot_y(a.twist * k / 3) @ rot_x(a.bow * (0.25 + 0.75 * k / 3)) @ rot_z(-a.side * k / 3)
                 for k in (1, 2, 3)]
        self.chest_R = spine[2]
        for j, R in ((J["spine1"], self.pelvis_R), (J["spine2"], spine[0]), (J["spine3"], spine[1]),
                     (J["neck"], spine[2]), (J["left_collar"], spine[2]), (J["right_collar"], spine[2]),
                     (J["head"], spine[2] @ rot_x(a.nod)),
                     (J["left_shoulder"], spine[2]), (J["right_shoulder"], spine[2])):
            p[:, j] = p[:, sk.PARENTS[j]] + apply(R, off[j])

        for i, side in enumerate(SIDES):
            hip = p[:, 0] + apply(self.pelvis_R, off[J[f"{side}_hip"]])
            knee_pole = apply(self.pelvis_R, np.array([0.0, 0.0, 1.0])) + 0.1 * UP
            knee, ankle = two_bone(hip, self.ankles[i], np.linalg.norm(off[J[f"{side}_knee"]]),
                                   np.linalg.norm(off[J[f"{side}_ankle"]]), knee_pole)
            toe = ankle + apply(rot_y(self.foot_yaws[i]), off[J[f"{side}_foot"]])
            p[:, J[f"{side}_hip"]], p[:, J[f"{side}_knee"]] = hip, knee
            p[:, J[f"{side}_ankle"]], p[:, J[f"{side}_foot"]] = ankle, toe

    def joint(self, name):
        return self.p[:, J[name]]

    def forward(self):
        return facing(self.actor.yaw)

    def arm_length(self, side):
        off = self.offsets
        return np.linalg.norm(off[J[f"{side}_elbow"]]) + np.linalg.norm(off[J[f"{side}_wrist"]])

    def hang(self, side):
        """Where a relaxed hand hangs, swinging against the opposite foot when walking."""
        a, off = self.actor, self.offsets
        other = 1 - SIDES.index(side)
        forward = self.forward()
        ahead = np.sum((self.ankles[other] - self.p[:, 0]) * forward, -1)
        local = np.stack([np.full(a.frames, _SIGN[side] * 0.04 * a.scale),
                          np.full(a.frames, -0.95 * self.arm_length(side)), 0.55 * ahead], -1)
        return self.joint(f"{side}_shoulder") + np.einsum("tij,tj->ti", self.yaw_R, local)

    def finish(self):
        """Joint positions (T, 22, 3) with the arms placed by IK towards the blended hand goals."""
        a, off, p = self.actor, self.offsets, self.p
        for side in SIDES:
            shoulder = self.joint(f"{side}_shoulder")
            rest = self.hang(side)
            goal = a.hands.get(side)
            target = rest if goal is None else rest + (goal.point - rest) * goal.weight[:, None]
            local_pole = np.array([_SIGN[side] * 0.6, -1.0, -0.5]) if goal is None or goal.pole is None else goal.pole
            pole = apply(self.chest_R, local_pole)
            elbow, wrist = two_bone(shoulder, target, np.linalg.norm(off[J[f"{side}_elbow"]]),
                                    np.linalg.norm(off[J[f"{side}_wrist"]]), pole)
            p[:, J[f"{side}_elbow"]], p[:, J[f"{side}_wrist"]] = elbow, wrist
        return p.copy()
