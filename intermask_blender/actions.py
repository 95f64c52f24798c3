"""One adapter over Blender's Action API: 4.2 (`Action.fcurves`), 4.4/4.5 (slots, layers, channelbags,
group assigned separately) and 5.0 (`Action.fcurves` removed, `group_name` on `fcurves.new`)."""

import bpy


def _linear():
    return bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def layered():
    return hasattr(bpy.types, "ActionSlot")


def assign(obj, action):
    """Make `action` the object's active action, with a slot for it on 4.4+."""
    ad = obj.animation_data or obj.animation_data_create()
    if layered():
        # an armature that was never evaluated (no pose yet) crashes on slot assignment (4.4-5.0):
        # evaluate it first; otherwise spare re-evaluating the whole scene
        if obj.type == "ARMATURE" and obj.pose is None:
            bpy.context.view_layer.update()
        ad.action = action
        slot = next((s for s in action.slots if s.target_id_type == "OBJECT"), None) \
            or action.slots.new(id_type="OBJECT", name=obj.name)
        ad.action_slot = slot
    else:
        ad.action = action
    return ad


def fcurves_of(action, obj):
    """The container whose `.fcurves` holds the object's curves in `action`."""
    if not layered():
        return action
    slot = obj.animation_data.action_slot
    layer = action.layers[0] if action.layers else action.layers.new("Layer")
    strip = layer.strips[0] if layer.strips else layer.strips.new(type="KEYFRAME")
    return strip.channelbag(slot, ensure=True)


def fcurve_maker(container):
    """fcurves.new(data_path, index, group) for this Blender: how a group is given differs by version."""
    params = container.fcurves.bl_rna.functions["new"].parameters
    if "group_name" in params:  # 5.0
        return lambda path, index, group: container.fcurves.new(path, index=index, group_name=group)
    if "action_group" in params:  # 4.2
        return lambda path, index, group: container.fcurves.new(path, index=index, action_group=group)

    def channelbag_curve(path, index, group):  # 4.4 / 4.5 channelbags
        fc = container.fcurves.new(path, index=index)
        fc.group = container.groups.get(group) or container.groups.new(group)
        return fc
    return channelbag_curve


def write_keys(container, frames, curves):
    """Bulk keys, linear interpolation: one new F-curve per (data_path, index, group, values) in `curves`,
    keyed at `frames` (keyframe_points.add + foreach_set). What Blender offers per call is looked up once:
    per curve, the lookups cost twice the key writing itself."""
    import numpy as np
    make = fcurve_maker(container)
    n = len(frames)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2] = frames
    linear = np.full(n, _linear(), dtype=np.int32)
    out = []
    for data_path, index, group, values in curves:
        fc = make(data_path, index, group)
        fc.keyframe_points.add(n)
        co[1::2] = values
        fc.keyframe_points.foreach_set("co", co)
        fc.keyframe_points.foreach_set("interpolation", linear)
        fc.update()
        out.append(fc)
    return out


def stash(obj, track_name="[Action Stash]"):
    """Keep the object's current action in a muted NLA track (and with a fake user): never lost."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return None
    old = ad.action
    old.use_fake_user = True
    track = ad.nla_tracks.new()
    track.name = track_name
    track.mute = True
    start = int(old.frame_range[0])
    strip = track.strips.new(old.name, start, old)
    if layered() and ad.action_slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = ad.action_slot
    return old


def action_curves(action, obj):
    """All F-curves of the object's slot in `action` (read side of the adapter)."""
    if not layered():
        return list(action.fcurves)
    ad = obj.animation_data
    slot = ad.action_slot if ad and ad.action == action else (action.slots[0] if action.slots else None)
    curves = []
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot) if slot is not None else None
            if bag is not None:
                curves.extend(bag.fcurves)
    return curves


def find_fcurve(container, data_path, index):
    return next((fc for fc in container.fcurves if fc.data_path == data_path and fc.array_index == index), None)


def _key_arrays(fc, names):
    """Keyframe properties in bulk: co and handles as flat (x, y) floats, enums as ints."""
    import numpy as np
    n = len(fc.keyframe_points)
    out = {}
    for name in names:
        pair = name in ("co", "handle_left", "handle_right")
        out[name] = np.empty(n * (2 if pair else 1), dtype=np.float32 if pair else np.int32)
        fc.keyframe_points.foreach_get(name, out[name])
    return out


def replace_range(fc, start, end, frames, values):
    """Remove `fc`'s keys in [start, end] and insert linear keys (frames, values) in bulk. Kept keys keep
    their handles exactly (Blender would otherwise recompute auto handles next to the new keys)."""
    import numpy as np
    handles = ("co", "handle_left", "handle_right", "handle_left_type", "handle_right_type")
    old = _key_arrays(fc, handles)
    kept = (old["co"][0::2] < start) | (old["co"][0::2] > end)
    for i in reversed(np.flatnonzero(~kept)):
        fc.keyframe_points.remove(fc.keyframe_points[int(i)], fast=True)
    n_kept, n = int(kept.sum()), len(frames)
    fc.keyframe_points.add(n)
    co = _key_arrays(fc, ("co",))["co"]
    co[2 * n_kept::2], co[2 * n_kept + 1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    interpolation = _key_arrays(fc, ("interpolation",))["interpolation"]
    interpolation[n_kept:] = _linear()
    fc.keyframe_points.foreach_set("interpolation", interpolation)
    fc.update()
    now = _key_arrays(fc, handles)
    frame_of = now["co"][0::2]
    for i in np.flatnonzero(kept):  # put back the handles that update() moved (the range's neighbours)
        j = int(np.flatnonzero(frame_of == old["co"][2 * i])[0])
        left, right = old["handle_left"][2 * i: 2 * i + 2], old["handle_right"][2 * i: 2 * i + 2]
        if np.array_equal(now["handle_left"][2 * j: 2 * j + 2], left) and \
                np.array_equal(now["handle_right"][2 * j: 2 * j + 2], right):
            continue
        key = fc.keyframe_points[j]
        key.handle_left_type = key.handle_right_type = "FREE"
        key.handle_left, key.handle_right = left, right
    return fc
