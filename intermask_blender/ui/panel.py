"""The N-panel (3D viewport, tab "InterMask"): prompt, rigs, mode, Generate/Cancel/Release, progress,
candidates (one button each) and the last error. Drawing only: every action is an operator."""

import bpy

from .. import generator


class INTERMASK_PT_panel(bpy.types.Panel):
    bl_idname = "INTERMASK_PT_panel"
    bl_label = "InterMask"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "InterMask"

    def draw(self, context):
        layout = self.layout
        s = context.scene.intermask
        layout.prop(s, "prompt", text="")
        col = layout.column(align=True)
        col.prop(s, "mode", text="")

        rigs = layout.column(align=True)
        rigs.prop(s, "rig_a")
        rigs.prop(s, "rig_b")
        rigs.operator("intermask.create_rigs", icon="ARMATURE_DATA")

        if s.mode == "GENERATE":
            col = layout.column(align=True)
            col.prop(s, "seconds")
            col.prop(s, "start_frame")
        else:
            col = layout.column(align=True)
            if s.mode == "REACT":
                col.prop(s, "lead", expand=True)
            else:
                col.prop(s, "regenerate_rigs", expand=True)
            row = col.row(align=True)
            row.prop(s, "range_start")
            row.prop(s, "range_end")
            col.operator("intermask.use_action_range", icon="ACTION")

        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(s, "seed")
        row.operator("intermask.randomise_seed", text="", icon="FILE_REFRESH")
        col.prop(s, "candidates")
        col.prop(s, "guidance")
        col.prop(s, "steps")
        col.prop(s, "as_worded")

        row = layout.row(align=True)
        row.scale_y = 1.4
        if s.running:
            row.operator("intermask.cancel", icon="CANCEL")
        else:
            label = {"GENERATE": "Generate", "REACT": "Generate reaction", "REGENERATE": "Regenerate range"}[s.mode]
            row.operator("intermask.generate", text=label, icon="PLAY")
        row.operator("intermask.release", text="", icon="UNLINKED")

        if s.running:
            if hasattr(layout, "progress"):
                layout.progress(factor=s.progress / 100.0, type="BAR", text=s.status or "Working ...")
            else:
                layout.label(text=f"{s.status} ({s.progress:.0f}%)")
        elif s.status:
            layout.label(text=s.status, icon="INFO")
        if s.last_error:
            box = layout.box()
            for i, line in enumerate(_wrap(s.last_error)):
                box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")

        if len(s.takes):
            layout.label(text="Candidates")
            grid = layout.grid_flow(columns=4, align=True)
            for i, take in enumerate(s.takes):
                op = grid.operator("intermask.show_candidate", text=f"{take.label} (seed {take.seed})",
                                   depress=i == s.active_candidate)
                op.index = i
        layout.label(text=generator.status(), icon="SETTINGS")


def _wrap(text, width=48):
    """Error messages are long; the panel shows them over several label lines."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


CLASSES = [INTERMASK_PT_panel]
