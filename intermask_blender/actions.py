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
        # an armature that was never evaluated crashes on slot assignment (4.4-5.0): evaluate it first
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


def new_fcurve(container, data_path, index, group):
    params = container.fcurves.bl_rna.functions["new"].parameters
    if "group_name" in params:  # 5.0
        return container.fcurves.new(data_path, index=index, group_name=group)
    if "action_group" in params:  # 4.2
        return container.fcurves.new(data_path, index=index, action_group=group)
    fc = container.fcurves.new(data_path, index=index)  # 4.4 / 4.5 channelbags
    fc.group = container.groups.get(group) or container.groups.new(group)
    return fc


def write_keys(container, data_path, index, group, frames, values):
    """Bulk keys: keyframe_points.add + foreach_set, linear interpolation."""
    import numpy as np
    fc = new_fcurve(container, data_path, index, group)
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", np.full(n, _linear(), dtype=np.int32))
    fc.update()
    return fc


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
