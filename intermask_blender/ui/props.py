"""The panel's settings, stored on the scene (saved with the .blend), and the list of candidates."""

import bpy


# No `poll=` or `update=` callbacks here: with either, bpy 4.2 segfaults at interpreter exit once the
# class is unregistered. Rigs are checked by the plans; candidates are switched by an operator.


class INTERMASK_PG_take(bpy.types.PropertyGroup):
    label: bpy.props.StringProperty(name="Candidate", description="Which sample of the last request")
    seed: bpy.props.IntProperty(name="Seed", description="The seed that produced this candidate")
    action_a: bpy.props.PointerProperty(name="Action A", type=bpy.types.Action,
                                        description="This candidate's Action on rig A (empty: rig A unchanged)")
    action_b: bpy.props.PointerProperty(name="Action B", type=bpy.types.Action,
                                        description="This candidate's Action on rig B (empty: rig B unchanged)")


class INTERMASK_PG_settings(bpy.types.PropertyGroup):
    prompt: bpy.props.StringProperty(
        name="Prompt", description="What the two people do, in plain English",
        default="two people walk towards each other and shake hands")
    seconds: bpy.props.FloatProperty(name="Duration", description="Length of the generated clip in seconds",
                                     default=5.0, min=1.0, max=10.0, step=50, precision=1, subtype="TIME_ABSOLUTE")
    seed: bpy.props.IntProperty(name="Seed", description="Same seed, same prompt, same settings: same motion",
                                default=0, min=0)
    candidates: bpy.props.IntProperty(name="Candidates", description="How many alternatives to generate at once",
                                      default=1, min=1, max=8)
    guidance: bpy.props.FloatProperty(name="Guidance", description="How strongly the motion follows the prompt "
                                      "(classifier-free guidance scale)", default=2.0, min=0.0, max=20.0)
    steps: bpy.props.IntProperty(name="Steps", description="Sampling steps: more is slower and often cleaner",
                                 default=20, min=1, max=100)
    as_worded: bpy.props.BoolProperty(
        name="Prompt as worded", default=False,
        description="Answer the prompt exactly as worded. Off: a model that ships its training captions (the "
                    "embedded default does) answers the caption nearest to the prompt, and the status line says which")
    start_frame: bpy.props.IntProperty(name="Start frame", description="Frame where generated Actions begin",
                                       default=1)
    rig_a: bpy.props.PointerProperty(name="Rig A", type=bpy.types.Object,
                                     description="The armature of the first person (who initiates)")
    rig_b: bpy.props.PointerProperty(name="Rig B", type=bpy.types.Object,
                                     description="The armature of the second person")
    mode: bpy.props.EnumProperty(name="Mode", description="What to generate", default="GENERATE", items=(
        ("GENERATE", "Generate both", "Animate both rigs from the prompt"),
        ("REACT", "React", "Keep the lead rig's animation and generate the other one reacting to it"),
        ("REGENERATE", "Regenerate range", "Regenerate a frame range, keeping everything outside it"),
    ))
    lead: bpy.props.EnumProperty(name="Lead", description="The rig whose animation is kept", default="A",
                                 items=(("A", "Rig A", "Rig A leads; rig B reacts"),
                                        ("B", "Rig B", "Rig B leads; rig A reacts")))
    range_start: bpy.props.IntProperty(name="From", description="First frame of the range", default=1)
    range_end: bpy.props.IntProperty(name="To", description="Last frame of the range", default=120)
    regenerate_rigs: bpy.props.EnumProperty(
        name="Rigs", description="Which rigs get new keys in the range", default="BOTH",
        items=(("BOTH", "Both", "Both rigs"), ("A", "Rig A", "Only rig A"), ("B", "Rig B", "Only rig B")))
    takes: bpy.props.CollectionProperty(type=INTERMASK_PG_take)
    active_candidate: bpy.props.IntProperty(name="Candidate", description="The candidate shown on the rigs",
                                            default=0, min=0)
    # state shown by the panel (not user settings)
    running: bpy.props.BoolProperty(name="Running", options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(name="Progress", subtype="PERCENTAGE", min=0, max=100,
                                      options={"SKIP_SAVE"}, description="Sampling progress")
    status: bpy.props.StringProperty(name="Status", options={"SKIP_SAVE"})
    last_error: bpy.props.StringProperty(name="Last error", description="What went wrong last time")


CLASSES = [INTERMASK_PG_take, INTERMASK_PG_settings]


def register():
    bpy.types.Scene.intermask = bpy.props.PointerProperty(type=INTERMASK_PG_settings)


def unregister():
    del bpy.types.Scene.intermask
