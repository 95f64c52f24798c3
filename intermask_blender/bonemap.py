"""Bone maps: which bone of a rig sits at each SMPL-22 joint (pure Python; stored on the armature as JSON).

Detection normalises bone names (lower case, separators unified, `mixamorig…:`-style prefixes dropped) and
matches them against alias tables for SMPL/SMPL-X, Mixamo, the Rigify metarig and generated Rigify rigs
(their FK controls, never DEF/ORG/MCH bones), UE4/UE5 mannequins, CMU/BVH skeletons and MakeHuman rigs.
The family whose table matches most joints wins."""

import json
import re

from ..server.motion import skeleton as sk

REQUIRED = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "spine3", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist")
OPTIONAL = tuple(name for name in sk.JOINT_NAMES if name not in REQUIRED)


def _sided(table):
    """Expand {joint: alias with {S}/{s}/{side}} into left and right entries."""
    out = {}
    for joint, aliases in table.items():
        if joint.startswith("*"):
            for side, S, s, word in (("left", "L", "l", "Left"), ("right", "R", "r", "Right")):
                out[f"{side}_{joint[1:]}"] = [a.format(S=S, s=s, side=word).lower() for a in aliases]
        else:
            out[joint] = aliases
    return out


# Aliases are compared after normalise(): lower case, '.', '-', ' ' -> '_'.
FAMILIES = {
    "SMPL": _sided({
        "pelvis": ["pelvis", "hips", "root"], "spine1": ["spine1"], "spine2": ["spine2"], "spine3": ["spine3"],
        "neck": ["neck"], "head": ["head"],
        "*hip": ["{side}_hip", "{s}_hip"], "*knee": ["{side}_knee", "{s}_knee"],
        "*ankle": ["{side}_ankle", "{s}_ankle"], "*foot": ["{side}_foot", "{s}_foot"],
        "*collar": ["{side}_collar", "{s}_collar"], "*shoulder": ["{side}_shoulder", "{s}_shoulder"],
        "*elbow": ["{side}_elbow", "{s}_elbow"], "*wrist": ["{side}_wrist", "{s}_wrist"],
    }),
    "Mixamo": _sided({
        "pelvis": ["hips"], "spine1": ["spine"], "spine2": ["spine1"], "spine3": ["spine2"], "neck": ["neck"],
        "head": ["head"], "*hip": ["{side}upleg"], "*knee": ["{side}leg"], "*ankle": ["{side}foot"],
        "*foot": ["{side}toebase"], "*collar": ["{side}shoulder"], "*shoulder": ["{side}arm"],
        "*elbow": ["{side}forearm"], "*wrist": ["{side}hand"],
    }),
    "Rigify metarig": _sided({
        "pelvis": ["spine"], "spine1": ["spine_001"], "spine2": ["spine_002"], "spine3": ["spine_003"],
        "neck": ["spine_004"], "head": ["spine_006"], "*hip": ["thigh_{S}"], "*knee": ["shin_{S}"],
        "*ankle": ["foot_{S}"], "*foot": ["toe_{S}"], "*collar": ["shoulder_{S}"], "*shoulder": ["upper_arm_{S}"],
        "*elbow": ["forearm_{S}"], "*wrist": ["hand_{S}"],
    }),
    "Rigify": _sided({
        "pelvis": ["torso"], "spine1": ["spine_fk_001"], "spine2": ["spine_fk_002"], "spine3": ["chest"],
        "neck": ["neck"], "head": ["head"], "*hip": ["thigh_fk_{S}"], "*knee": ["shin_fk_{S}"],
        "*ankle": ["foot_fk_{S}"], "*foot": ["toe_{S}"], "*collar": ["shoulder_{S}"],
        "*shoulder": ["upper_arm_fk_{S}"], "*elbow": ["forearm_fk_{S}"], "*wrist": ["hand_fk_{S}"],
    }),
    "Unreal": _sided({
        "pelvis": ["pelvis"], "spine1": ["spine_01"], "spine2": ["spine_02", "spine_03"],
        "spine3": ["spine_03", "spine_05", "spine_04"], "neck": ["neck_01"], "head": ["head"],
        "*hip": ["thigh_{s}"], "*knee": ["calf_{s}"], "*ankle": ["foot_{s}"], "*foot": ["ball_{s}"],
        "*collar": ["clavicle_{s}"], "*shoulder": ["upperarm_{s}"], "*elbow": ["lowerarm_{s}"],
        "*wrist": ["hand_{s}"],
    }),
    "CMU / BVH": _sided({
        # CMU's LowerBack starts at the hips and its Neck at Spine1 (zero-length bones): skip those
        "pelvis": ["hips"], "spine1": ["spine", "tospine", "lowerback"], "spine2": ["spine2"],
        "spine3": ["spine1", "chest", "thorax"], "neck": ["neck1", "neck"], "head": ["head"],
        "*hip": ["{side}upleg", "{side}hipjoint_child", "{side}thigh"], "*knee": ["{side}leg", "{side}shin"],
        "*ankle": ["{side}foot"], "*foot": ["{side}toebase", "{side}toe"], "*collar": ["{side}shoulder"],
        "*shoulder": ["{side}arm"], "*elbow": ["{side}forearm"], "*wrist": ["{side}hand"],
    }),
    "MakeHuman": _sided({
        "pelvis": ["spine05", "root"], "spine1": ["spine04"], "spine2": ["spine02", "spine03"],
        "spine3": ["spine01"], "neck": ["neck01"], "head": ["head"], "*hip": ["upperleg01_{s}"],
        "*knee": ["lowerleg01_{s}"], "*ankle": ["foot_{s}"], "*foot": ["toe1_1_{s}"],
        "*collar": ["clavicle_{s}"], "*shoulder": ["upperarm01_{s}"], "*elbow": ["lowerarm01_{s}"],
        "*wrist": ["wrist_{s}"],
    }),
}
_PREFIX = re.compile(r"^(?:[^:|]*[:|])+")  # 'mixamorig1:Hips', 'Armature|Hips' -> 'Hips'
_MIXAMO_PREFIX = re.compile(r"^mixamorig\d*_?", re.IGNORECASE)  # importers that drop or replace the ':'


def normalise(name):
    name = _MIXAMO_PREFIX.sub("", _PREFIX.sub("", name))
    return re.sub(r"[.\- ]", "_", name).lower()


class BoneMapError(ValueError):
    """A rig whose bones do not cover the joints the retargeter needs; the message names them."""


def detect(bone_names):
    """Bone names -> (family, {joint name: bone name}). Raises BoneMapError naming missing joints."""
    by_norm = {}
    for name in bone_names:
        if normalise(name).startswith(("def_", "org_", "mch_")):
            continue  # Rigify's deform and mechanism bones are driven; keys go on controls
        by_norm.setdefault(normalise(name), name)
    best = None
    for family, table in FAMILIES.items():
        mapping = {}
        for joint, aliases in table.items():
            found = next((by_norm[a] for a in aliases if a in by_norm and by_norm[a] not in mapping.values()), None)
            if found is not None:
                mapping[joint] = found
        score = (sum(j in mapping for j in REQUIRED), len(mapping))
        if best is None or score > best[0]:
            best = (score, family, mapping)
    _, family, mapping = best
    validate(mapping)
    return family, mapping


def validate(mapping, bone_names=None):
    missing = [j for j in REQUIRED if not mapping.get(j)]
    if missing:
        raise BoneMapError(f"the rig has no bone mapped to: {', '.join(missing)}; map them in the rig's "
                           f"InterMask bone map")
    unknown = [j for j in mapping if j not in sk.JOINT_INDEX]
    if unknown:
        raise BoneMapError(f"unknown joints in the bone map: {', '.join(unknown)}")
    if bone_names is not None:
        absent = sorted({b for b in mapping.values() if b and b not in bone_names})
        if absent:
            raise BoneMapError(f"the bone map names bones the rig does not have: {', '.join(absent)}")


def to_json(mapping, family="custom"):
    return json.dumps({"format": "intermask-bonemap", "version": 1, "family": family,
                       "joints": {j: mapping.get(j, "") for j in sk.JOINT_NAMES}}, indent=2)


def from_json(text):
    try:
        data = json.loads(text)
    except ValueError as error:
        raise BoneMapError(f"not a bone map: {error}") from None
    if not isinstance(data, dict) or data.get("format") != "intermask-bonemap":
        raise BoneMapError("not an InterMask bone map (format 'intermask-bonemap' expected)")
    joints = {j: b for j, b in data.get("joints", {}).items() if b}
    validate(joints)
    return data.get("family", "custom"), joints
