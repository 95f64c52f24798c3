"""Joint tracks -> poses of real rigs (pure numpy; the bpy glue reads rigs and writes keys elsewhere).

For a pair of characters, all in Blender world space (metres, Z up):
1. scale: each body by its rig's size over the source's (all bone lengths, least squares); the pair's
   layout (where the two stand) by the mean of both scales, so the two keep one shared world frame;
2. contacts: hands that touched the partner in the source are aimed at the same world point, the bodies
   stepping closer where a rig's arms are too short to reach it;
3. feet: frames where the source foot is planted hold one position (no sliding), never below the floor;
4. the rig's own bone lengths: spine and head follow directions, arms and legs reach their targets with
   two-bone IK bent towards the source's elbows and knees;
5. orientations from those positions (`server.motion.ik`, rest = the rig's own rest pose, so A- or T-pose
   and bone roll need no special case), then local pose matrices through the rig's whole hierarchy."""

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from ..server.motion import axes, ik, kinematics, skeleton as sk
from ..server.motion.feet import runs
from ..server.motion.cleanup import smooth_envelope
from ..server.motion.vectors import cross, dot, norm, normalise
from . import bonemap
from ..server.motion.rotations import make_continuous, matrix_to_quaternion, qbetween, quaternion_to_matrix

J = sk.JOINT_INDEX
LIMBS = (  # (root, middle, end, tip) joints of the four two-bone chains
    (J["left_hip"], J["left_knee"], J["left_ankle"], J["left_foot"]),
    (J["right_hip"], J["right_knee"], J["right_ankle"], J["right_foot"]),
    (J["left_shoulder"], J["left_elbow"], J["left_wrist"], None),
    (J["right_shoulder"], J["right_elbow"], J["right_wrist"], None),
)
WRISTS = (J["left_wrist"], J["right_wrist"])
TORSO = [J[n] for n in ("pelvis", "left_hip", "right_hip", "spine1", "spine2", "spine3", "left_collar",
                        "right_collar", "left_shoulder", "right_shoulder", "neck")]
BONE_CHILDREN = [j for j in range(sk.N_JOINTS) if sk.PARENTS[j] >= 0]
BONE_PARENTS = [sk.PARENTS[j] for j in BONE_CHILDREN]
HAND_CONTACT_DISTANCE = 0.10  # metres between a wrist and a partner's joint in the source
CONTACT_BLEND_FRAMES = 6


@dataclass
class RigSpec:
    """What the solver needs of an armature (read by `rig.read_rig`, or built by hand in tests)."""
    bone_names: list
    parents: np.ndarray  # (N,) parent bone index, -1 for roots
    rest: np.ndarray  # (N, 4, 4) bone rest matrices in armature space (Blender's bone.matrix_local)
    object_matrix: np.ndarray  # (4, 4) the armature object's world matrix
    joint_bones: np.ndarray  # (22,) index of the bone whose head is SMPL joint j, or -1
    rotation_modes: list = field(default_factory=list)  # per bone: 'QUATERNION', 'XYZ', ... (for baking)

    def ancestors(self, b):
        """Bone b and the bones above it, nearest first."""
        return sk.ancestors(b, self.parents)

    def keyed_bones(self):
        """Mapped bones and every bone above them, parents first (so unmapped parents are keyed at rest)."""
        return list(self._keyed_bones)

    def root_driver(self):
        """The bone that carries the pelvis joint's motion: the lowest common ancestor of every mapped
        bone (the pelvis bone itself on most rigs; MakeHuman's `root`, which also holds the legs)."""
        return self._root_driver

    # A rig's description does not change once read, and a solve and a bake ask for what follows several
    # times: each is computed once.
    @cached_property
    def _keyed_bones(self):
        return sorted({a for b in self.joint_bones[self.joint_bones >= 0] for a in self.ancestors(b)})

    @cached_property
    def _root_driver(self):
        common = None
        for b in self.joint_bones[self.joint_bones >= 0]:
            chain = self.ancestors(b)
            common = chain if common is None else [a for a in common if a in set(chain)]
        pelvis = int(self.joint_bones[J["pelvis"]])
        return common[0] if common and common[0] in self.ancestors(pelvis) else pelvis

    def rest_world(self):
        """(N, 4, 4) rest matrices in world space."""
        return self.object_matrix @ self.rest

    def mapped_heads(self):
        """(22, 3) world positions of the mapped bones' heads at rest, NaN for unmapped joints."""
        heads = self.rest_world()[:, :3, 3]
        out = np.full((sk.N_JOINTS, 3), np.nan)
        mapped = self.joint_bones >= 0
        out[mapped] = heads[self.joint_bones[mapped]]
        return out

    def rest_joints(self):
        """(22, 3) world positions of the rig's SMPL joints at rest (see `smpl_joints`)."""
        return self._rest_joints.copy()

    @cached_property
    def _rest_joints(self):
        return smpl_joints(self.mapped_heads())

    @cached_property
    def joints_are_heads(self):
        """Every joint is mapped and is its bone's head (an SMPL-proportioned rig)."""
        return bool((self.joint_bones >= 0).all() and np.allclose(self.mapped_heads(), self._rest_joints, atol=1e-6))

    def carriers(self):
        """(22,) the bone each joint rides on. A hard joint is the head of its own bone. A soft one rides,
        as SMPL's joints ride on their parent's, on a bone between its parent joint's and its own: the one
        it lies along at rest (a BVH spine's unmapped LowerBack, say). A missing one rides on its parent
        joint's bone (the nearest mapped one above)."""
        return self._carriers.copy()

    def anchors(self):
        """Each joint as a point fixed in its carrier bone: (carriers (22,), (22, 4) homogeneous points in
        the carriers' rest frames), so posed joints are `pose_matrix[carrier] @ point` in armature space."""
        carriers, points = self._anchors
        return carriers.copy(), points.copy()

    @cached_property
    def _carriers(self):
        bones = self.joint_bones
        heads = self.rest[:, :3, 3]
        points = self._rest_joints_armature
        out = np.array(bones)
        for j, p in enumerate(sk.PARENTS):
            if p < 0 or (bones[j] >= 0 and j not in SOFT_JOINTS):
                continue
            while bones[p] < 0:
                p = sk.PARENTS[p]
            out[j] = bones[p]
            path = self.ancestors(int(bones[j]))[::-1] if bones[j] >= 0 else []
            if int(bones[p]) in path:  # bones from the parent joint's down to this joint's
                path = path[path.index(int(bones[p])):]
                gaps = [_segment_distance(points[j, :3], heads[a], heads[b]) for a, b in zip(path, path[1:])]
                out[j] = path[int(np.argmin(gaps))]
        return out

    @cached_property
    def _anchors(self):
        carriers = self.carriers()
        return carriers, np.einsum("jab,jb->ja", rigid_inverse(self.rest[carriers]), self._rest_joints_armature)

    def rest_joints_armature(self):
        """(22, 4) the rest joints in armature space, homogeneous."""
        return self._rest_joints_armature.copy()

    @cached_property
    def _rest_joints_armature(self):
        world = np.concatenate([self.rest_joints(), np.ones((sk.N_JOINTS, 1))], axis=-1)
        return world @ np.linalg.inv(self.object_matrix).T


# Joints whose place rigs disagree on: the pelvis and the spine joints (the bones of a spine are cut
# anywhere), the collars (the chest, the sternum or the shoulder). Each is put where SMPL has it relative
# to the hips and shoulders, which every rig places alike; the rest are the heads of their bones.
SOFT_JOINTS = tuple(J[n] for n in ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"))


def _segment_distance(x, a, b):
    t = np.clip((x - a) @ (b - a) / max((b - a) @ (b - a), 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(x - (a + t * (b - a))))


_SOFT_SIDES = [J["right_shoulder"] if sk.JOINT_NAMES[j].startswith("right") else J["left_shoulder"] for j in SOFT_JOINTS]


def _torso_frames(joints):
    """Per soft joint, (3, 3) columns: hips-to-shoulders, mid-shoulders to the joint's side's shoulder, and
    their normal scaled like the first; origin the mid-hips point."""
    hips = 0.5 * (joints[J["left_hip"]] + joints[J["right_hip"]])
    shoulders = 0.5 * (joints[J["left_shoulder"]] + joints[J["right_shoulder"]])
    up = np.broadcast_to(shoulders - hips, (len(SOFT_JOINTS), 3))
    across = joints[_SOFT_SIDES] - shoulders
    normal = cross(up, across)
    return hips, np.stack([up, across, normal * (norm(up) / norm(normal))[:, None]], axis=-1)


@lru_cache(maxsize=1)
def _smpl_soft_coordinates():
    """The soft joints of our SMPL rest pose in their torso frames (exact for an SMPL-proportioned rig)."""
    smpl = axes.model_to_blender(kinematics.rest_positions())
    origin, frames = _torso_frames(smpl)
    return np.linalg.solve(frames, (smpl[list(SOFT_JOINTS)] - origin)[..., None])[..., 0]


def smpl_joints(heads):
    """(22, 3) mapped bone heads (NaN where unmapped) -> the rig's SMPL joints: soft joints placed like
    SMPL's, unmapped optional joints (neck, toes) interpolated."""
    out = np.array(heads, dtype=np.float64)
    missing = [name for name in bonemap.REQUIRED if np.isnan(out[J[name]]).any()]
    if missing:
        raise ValueError(f"the rig has no bones for {', '.join(missing)}")
    origin, frames = _torso_frames(out)
    out[list(SOFT_JOINTS)] = origin + (frames @ _smpl_soft_coordinates()[..., None])[..., 0]
    if np.isnan(out[J["neck"]]).any():
        out[J["neck"]] = 0.5 * (out[J["spine3"]] + out[J["head"]])
    for toe, ankle in ((J["left_foot"], J["left_ankle"]), (J["right_foot"], J["right_ankle"])):
        if np.isnan(out[toe]).any():  # a foot pointing forward (-Y in Blender), down at the floor
            out[toe] = out[ankle] + np.array([0.0, -0.12, -out[ankle][2] * 0.6])
    return out


def _blend_weights(flags, ramp=CONTACT_BLEND_FRAMES):
    """1 on contact frames, easing to 0 over `ramp` frames either side."""
    w = flags.astype(np.float64)
    for start, end in runs(flags):
        for k in range(1, ramp + 1):
            ease = 1 - k / (ramp + 1)
            ease = ease * ease * (3 - 2 * ease)
            for f in (start - k, end - 1 + k):
                if 0 <= f < len(w):
                    w[f] = max(w[f], ease)
    return w


@dataclass
class Solved:
    positions: np.ndarray  # (T, 22, 3) world positions the rig's joints will have
    rotations: np.ndarray  # (T, 22, 3, 3) world rotations taking the rig's rest bones to the pose


def bone_lengths(joints):
    """(..., 21) lengths of the skeleton's bones (each joint to its parent)."""
    j = np.asarray(joints)
    return norm(j[..., BONE_CHILDREN, :] - j[..., BONE_PARENTS, :])


def body_scale(rest, source):
    """The rig's size over the source's: the least-squares ratio of all their bone lengths (the source's
    medians over frames). A long bone counts for more, and no single part sets the size: scaled by its
    legs alone, a rig whose torso is short for its legs (the Rigify metarig's, 21 % shorter than SMPL's)
    gets targets its spine cannot reach."""
    target, measured = bone_lengths(rest), np.median(bone_lengths(source).reshape(-1, len(BONE_CHILDREN)), 0)
    return float(dot(target, measured) / dot(measured, measured))


def scaled_targets(sources, rigs_rest):
    """Source tracks (Blender world space) of both persons -> each rig's joint targets: bodies scaled by
    their own size ratio (`body_scale`), the pair's ground layout by the mean ratio."""
    scales = [body_scale(rest, src) for src, rest in zip(sources, rigs_rest)]
    layout = float(np.mean(scales))
    targets = []
    for src, s in zip(sources, scales):
        root = src[:, J["pelvis"]]
        anchor = np.concatenate([root[:, :2] * layout, root[:, 2:] * s], axis=-1)
        targets.append(anchor[:, None] + (src - root[:, None]) * s)
    return targets, scales, layout


def hand_contacts(sources):
    """For each person, for each wrist: (T,) index of the partner joint it touches (-1: none)."""
    out = []
    for me, other in ((0, 1), (1, 0)):
        mine = []
        for w in WRISTS:
            d = norm(sources[me][:, w, None] - sources[other])  # (T, 22)
            nearest = d.argmin(-1)
            mine.append(np.where(d.min(-1) < HAND_CONTACT_DISTANCE, nearest, -1))
        out.append(mine)
    return out


def apply_hand_contacts(targets, sources, contacts, layout):
    """Aim touching hands at the partner's (scaled) body; two touching hands meet half way. contacts:
    `hand_contacts(sources)`."""
    adjusted = [t.copy() for t in targets]
    for me, other in ((0, 1), (1, 0)):
        for w, touched in zip(WRISTS, contacts[me]):
            on = touched >= 0
            if not on.any():
                continue
            frames = np.flatnonzero(on)
            joint = touched[frames]
            offset = (sources[me][frames, w] - sources[other][frames, joint]) * layout
            goal = np.array(targets[me][:, w])
            partner = targets[other][frames, joint]
            both_hands = np.isin(joint, WRISTS)
            # hand to hand: meet at the midpoint of the two scaled hands; hand to body: touch the body
            goal[frames] = np.where(both_hands[:, None], 0.5 * (targets[me][frames, w] + partner),
                                    partner + offset)
            weight = _blend_weights(on)[:, None]
            adjusted[me][:, w] = (1 - weight) * targets[me][:, w] + weight * goal
    return adjusted


ARM_REACH = 0.95  # fraction of an arm's length a hand may be from its shoulder (a locked elbow looks wrong)
SHOULDER_OF = np.full(sk.N_JOINTS, -1)  # a wrist's shoulder joint, by the wrist's index
SHOULDER_OF[[J["left_wrist"], J["right_wrist"]]] = J["left_shoulder"], J["right_shoulder"]


def close_in_for_handholds(targets, contacts, rests):
    """Hands that met in the source may be out of reach on rigs with shorter arms for their size: walk each
    body towards the meeting point, along the ground, until its hand can reach it. The step is held
    through each contact (so planted feet do not slide) and eased in and out around it. contacts:
    `hand_contacts` of the sources."""
    arm = [np.linalg.norm(r[J["left_elbow"]] - r[J["left_shoulder"]])
           + np.linalg.norm(r[J["left_wrist"]] - r[J["left_elbow"]]) for r in rests]
    holding = np.zeros(len(targets[0]), bool)
    holds = []  # per wrist of the first person: the frames it holds one of the partner's hands, and which
    for w, touched in zip(WRISTS, contacts[0]):
        frames = np.flatnonzero((touched == WRISTS[0]) | (touched == WRISTS[1]))
        holding[frames] = True
        holds.append((w, frames, touched[frames]))
    shifts = [np.zeros((len(t), 3)) for t in targets]

    def moved(k, frames, joints):  # person k's joints on those frames, stepped
        return targets[k][frames, joints] + shifts[k][frames]

    for _ in range(3):  # each body's step moves the meeting point a little: settle it
        need = [np.zeros((len(t), 3)) for t in targets]
        for w, frames, partner_wrist in holds:
            goal = 0.5 * (moved(0, frames, w) + moved(1, frames, partner_wrist))
            for k, wrist in ((0, np.full(len(frames), w)), (1, partner_wrist)):
                shoulder = moved(k, frames, SHOULDER_OF[wrist])
                d = goal - shoulder
                flat = np.linalg.norm(d[:, :2], axis=-1)
                reach = ARM_REACH * arm[k]
                allowed = np.sqrt(np.maximum(reach ** 2 - d[:, 2] ** 2, 0.0))
                step = np.maximum(flat - allowed, 0.0)[:, None] * d / np.maximum(flat, 1e-9)[:, None]
                step[:, 2] = 0.0
                bigger = np.linalg.norm(step, axis=-1) > np.linalg.norm(need[k][frames], axis=-1)
                need[k][frames[bigger]] = step[bigger]
        for k in range(2):
            shifts[k] += need[k]
    weight = _blend_weights(holding)[:, None]
    out = []
    for target, shift in zip(targets, shifts):
        held = np.zeros_like(shift)
        for start, end in runs(holding):  # one step per contact: the largest the contact needed
            run = shift[start:end]
            held[max(start - CONTACT_BLEND_FRAMES, 0):end + CONTACT_BLEND_FRAMES] = \
                run[np.linalg.norm(run, axis=-1).argmax()]
        out.append(target + (weight * held)[:, None])
    return out


PLANTED_SPEED = 0.012  # metres per frame: slower than this, a foot in contact is held still


def planted(target, contacts):
    """(T, 4) bool: contact channels whose foot really is still (the contact rule of the features lets a
    foot travel up to 3 cm per frame)."""
    feet = target[:, list(sk.CONTACT_JOINTS)]
    speed = norm(np.diff(feet, axis=0))
    speed = np.concatenate([speed, speed[-1:]])
    return (np.asarray(contacts) > 0.5) & (speed < PLANTED_SPEED)


def plant_feet(target, contacts, rest, floor=0.0):
    """Hold planted feet still (the mean over each planted run) and keep feet above the floor.
    contacts (T, 4) in skeleton.CONTACT_JOINTS order; rest: the rig's rest joints (for foot heights)."""
    out = target.copy()
    still = planted(target, contacts)
    for channel, joint in enumerate(sk.CONTACT_JOINTS):
        rest_height = floor + rest[joint, 2] - rest[:, 2].min()
        for start, end in runs(still[:, channel]):
            held = out[start:end, joint].mean(0)
            held[2] = max(held[2], rest_height)
            out[start:end, joint] = held
        out[:, joint, 2] = np.maximum(out[:, joint, 2], rest_height)
    return out


def fit_to_rig(target, rest, planted=None):
    """Joint positions with the rig's bone lengths: the torso in the target's shape, placed where it fits
    the target's best, limbs reaching their end targets by two-bone IK (the body
    lowered where a planted foot would be out of reach). All (T, 22, 3), Blender world space."""
    lengths = dict(enumerate(norm(rest[1:] - rest[list(sk.PARENTS[1:])]), start=1))  # joint 0 is the only root
    out = np.zeros_like(target)
    limb_parts = {j for limb in LIMBS for j in limb[1:] if j is not None}
    # the pelvis and chest orient their non-aimed children (hips, collars): rotations from the target
    oriented = [p for j, p in enumerate(sk.PARENTS) if p >= 0 and j not in limb_parts and ik.AIM_CHILD.get(p) != j]
    world = ik.world_rotations(target, rest, joints=oriented, basis=axes.MODEL_TO_BLENDER)
    # the torso keeps the target's shape with the rig's bone lengths (an aimed child along the target's own
    # direction, the others turning with their parent), then goes where it best fits the target's torso:
    # rigs disagree on where the pelvis joint sits, so one joint alone is a poor anchor
    placed = [j for j in range(sk.N_JOINTS) if j not in limb_parts]
    for j in placed[1:]:  # parents first
        parent = sk.PARENTS[j]
        if ik.AIM_CHILD.get(parent) == j:
            out[:, j] = out[:, parent] + lengths[j] * normalise(target[:, j] - target[:, parent])
        else:
            out[:, j] = out[:, parent] + world[:, parent] @ (rest[j] - rest[parent])
    out[:, placed] += (target[:, TORSO] - out[:, TORSO]).mean(1)[:, None]
    if planted is not None:
        drop = np.zeros(len(target))
        for (hip, knee, ankle, _), side in zip(LIMBS[:2], (slice(0, 2), slice(2, 4))):
            reach = 0.995 * (lengths[knee] + lengths[ankle])
            d = out[:, hip] - target[:, ankle]
            flat = np.minimum((d[:, :2] ** 2).sum(-1), reach ** 2)
            need = d[:, 2] - np.sqrt(reach ** 2 - flat)
            drop = np.maximum(drop, np.where(planted[:, side].any(-1), need, 0.0))
        if (drop > 0).any():
            out[:, placed, 2] -= smooth_envelope(np.maximum(drop, 0.0))[:, None]
    target = target.copy()
    if planted is not None:  # a planted toe with a lifting heel: the foot pivots about the toe
        for (_, _, ankle, toe), toe_channel in zip(LIMBS[:2], (1, 3)):
            on = planted[:, toe_channel][:, None]
            pivoted = target[:, toe] + lengths[toe] * normalise(target[:, ankle] - target[:, toe])
            target[:, ankle] = np.where(on, pivoted, target[:, ankle])
    for root, mid, end, tip in LIMBS:
        out[:, mid], out[:, end] = ik.two_bone_ik(out[:, root], target[:, end], target[:, mid], lengths[mid],
                                                  lengths[end])
        if tip is not None:
            out[:, tip] = out[:, end] + lengths[tip] * normalise(target[:, tip] - target[:, end])
    return out


def solve(sources, contacts, rigs, placement=None):
    """Retarget one or two people. sources: (T, 22, 3) tracks in model space; contacts: (T, 4) each;
    rigs: a RigSpec each. `placement` (4, 4), a rotation about Z plus a translation, puts the source's
    origin somewhere in the world (default: the world origin). Returns one Solved per rig."""
    placement = np.eye(4) if placement is None else np.asarray(placement, dtype=np.float64)
    world_sources = [axes.model_to_blender(np.asarray(s, dtype=np.float64)) for s in sources]
    rests = [rig.rest_joints() for rig in rigs]
    targets, _, layout = scaled_targets(world_sources, rests)
    touching = hand_contacts(world_sources) if len(targets) == 2 else []
    if any((wrist >= 0).any() for person in touching for wrist in person):
        targets = close_in_for_handholds(targets, touching, rests)
        targets = apply_hand_contacts(targets, world_sources, touching, layout)
    solved = []
    for target, contact, rest, rig in zip(targets, contacts, rests, rigs):
        target = target @ placement[:3, :3].T + placement[:3, 3]
        held = plant_feet(target, np.asarray(contact), rest, floor=placement[2, 3])
        fitted = fit_to_rig(held, rest, planted(target, contact))
        solved.append(Solved(fitted, bone_rotations(fitted, rest, rig)))
    return solved


def bone_rotations(fitted, rest, rig):
    """World rotations (T, 22, 3, 3) of the rig's bones for fitted joint positions. A bone pivots about its
    head, which is not its joint where the joint is a soft one (or a missing joint rides on it): so, parents
    first, each bone's rotation is turned until the joint it aims at lands where fitted, from where the
    bone's head really lands."""
    world = ik.world_rotations(fitted, rest, basis=axes.MODEL_TO_BLENDER)
    if rig.joints_are_heads:
        return world  # nothing to turn
    heads, bones = rig.mapped_heads(), rig.joint_bones
    carriers = rig.carriers()
    owner = {int(b): j for j, b in enumerate(bones) if b >= 0}
    owner.setdefault(rig.root_driver(), J["pelvis"])  # an unmapped common ancestor moves with the pelvis
    pelvis = J["pelvis"]
    pivots = {j: next(owner[a] for a in rig.ancestors(int(bones[j]))[1:] if a in owner)
              for j in owner.values() if j != pelvis}
    rotations = world.copy()
    # the pelvis keeps its rotation from the joints: it carries the pelvis joint, placed exactly
    landed = {pelvis: fitted[:, pelvis] - world[:, pelvis] @ (rest[pelvis] - heads[pelvis])}
    for j in sorted(pivots, key=lambda j: bones[j]):  # parents first
        pivot = pivots[j]
        landed[j] = landed[pivot] + rotations[:, pivot] @ (heads[j] - heads[pivot])
        if j not in ik.AIM_CHILD:
            rotations[:, j] = rotations[:, sk.PARENTS[j]]
            continue
        c = ik.AIM_CHILD[j]
        holder = next(owner[a] for a in rig.ancestors(int(carriers[c])) if a in owner)
        if holder != j and pivots.get(c) != j:
            continue  # the aimed joint does not hang from this bone (a bone between them is unmapped)
        rest_aim, aim = rest[c] - heads[j], fitted[:, c] - landed[j]
        if np.linalg.norm(rest_aim) > 1e-6:
            rotations[:, j] = quaternion_to_matrix(qbetween(rotations[:, j] @ rest_aim, aim)) @ rotations[:, j]
    return rotations


def pose_channels(rig: RigSpec, solved: Solved):
    """Blender's pose channels of the K bones of `rig.keyed_bones()`: quaternions (T, K, 4), the rotations
    of their pose_bone.matrix_basis with signs continuous over time, and locations (T, K, 3). Mapped bones
    take the solved rotation, the root driver also the pelvis joint's position; unmapped ones stay at rest,
    and only the root driver moves."""
    T = solved.positions.shape[0]
    obj = rig.object_matrix
    # the object's rotation (without scale), to bring world rotations into armature space
    R_obj = obj[:3, :3] / np.linalg.norm(obj[:3, :3], axis=0, keepdims=True)
    bone_joint = {int(b): j for j, b in enumerate(rig.joint_bones) if b >= 0}
    driver = rig.root_driver()
    bone_joint.setdefault(driver, J["pelvis"])  # an unmapped common ancestor moves with the pelvis
    keyed = rig.keyed_bones()
    slot = {b: k for k, b in enumerate(keyed)}
    rest = rig.rest[keyed, :3, :3]
    parents = [slot.get(int(rig.parents[b]), -1) for b in keyed]
    # rotations in armature space: mapped bones from the solve, the others carried by their parent
    relative = np.stack([rig.rest[b, :3, :3] if p < 0 else rig.rest[rig.parents[b], :3, :3].T @ rig.rest[b, :3, :3]
                         for b, p in zip(keyed, parents)])
    mapped = [k for k, b in enumerate(keyed) if b in bone_joint]
    posed = np.empty((T, len(keyed), 3, 3))
    posed[:, mapped] = solved.rotations[:, [bone_joint[keyed[k]] for k in mapped]] @ (R_obj @ rest[mapped])
    if not np.allclose(R_obj, np.eye(3)):  # most armatures are not rotated: spare a product
        posed[:, mapped] = R_obj.T @ posed[:, mapped]
    for k, p in enumerate(parents):
        if keyed[k] not in bone_joint:
            posed[:, k] = relative[k] if p < 0 else posed[:, p] @ relative[k]
    # matrix_basis = (parent's posed @ relative)^T @ posed, the parent being the identity above the roots
    local = np.swapaxes(posed[:, [max(p, 0) for p in parents]], -1, -2) @ posed
    roots = [k for k, p in enumerate(parents) if p < 0]
    local[:, roots] = posed[:, roots]
    quaternions = make_continuous(matrix_to_quaternion(np.swapaxes(relative, -1, -2) @ local), axis=0)
    # the driver's head sits where the pelvis joint lands, less the pelvis joint's offset from it (the
    # bones above the driver are above every mapped bone too, so they stay at rest)
    rest_head = rig.rest[driver, :3, 3]
    pelvis_offset = rig.rest_joints_armature()[J["pelvis"], :3] - rest_head
    to_armature = np.linalg.inv(obj)
    pelvis = solved.positions[:, J["pelvis"]] @ to_armature[:3, :3].T + to_armature[:3, 3]
    k = slot[driver]
    head = pelvis - posed[:, k] @ (rest[k].T @ pelvis_offset)
    locations = np.zeros((T, len(keyed), 3))
    locations[:, k] = (head - rest_head) @ rest[k]
    return quaternions, locations


def rigid_inverse(M):
    """Inverse of (..., 4, 4) rigid transforms (orthonormal rotation and a translation): a transpose,
    several times cheaper than a general inverse, which dominated the bake."""
    R = np.swapaxes(M[..., :3, :3], -1, -2)
    out = np.zeros_like(M)
    out[..., :3, :3] = R
    out[..., :3, 3] = -(R @ M[..., :3, 3:])[..., 0]
    out[..., 3, 3] = 1.0
    return out
