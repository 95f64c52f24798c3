"""The panel's operators: thin glue between Blender and modes/jobs/generator. Generation runs in the
generator process while a timer polls it, so Blender stays responsive; in background mode it blocks."""

import random

import bpy

from .. import actions, builtin_rig, generator
from ..addon_id import ADDON_ID
from ..client import GeneratorError
from ..jobs import Job
from ..modes import GeneratePlan, PlanError, ReactPlan, RegeneratePlan

PLANS = {"GENERATE": GeneratePlan, "REACT": ReactPlan, "REGENERATE": RegeneratePlan}
_job = None  # the one request in flight


def prefs(context):
    return context.preferences.addons[ADDON_ID].preferences


def current_job():
    return _job


def start_job(context):
    """Check the panel's inputs, read what the request needs and send it -> Job. Raises PlanError or
    GeneratorError with a message for the user. Nothing in the scene changes here."""
    global _job
    if _job is not None and _job.state == "running":
        raise PlanError("a generation is already running: wait for it or cancel it")
    settings = context.scene.intermask
    plan = PLANS[settings.mode](context, settings)
    _job = Job(plan, generator.client(prefs(context)))
    settings.running, settings.progress, settings.last_error = True, 0.0, ""
    settings.status = "Starting the generator ..." if not _job.client.alive else "Queued ..."
    return _job


def understood(job):
    """How the model read the prompt, where it says and the reading is not the prompt itself, and a warning
    where the generator read it without its prompt reader."""
    reading = job.understood_as
    same = reading and reading.strip(" .").lower() == job.plan.prompt.strip(" .").lower()
    note = f" (read without the prompt reader: {job.reader_note})" if job.reader_note else ""
    return (f", understood as '{reading}'" if reading and not same else "") + note


def finish_job(context, job):
    """Record the outcome in the panel's state (main thread) -> (report level, message)."""
    settings = context.scene.intermask
    settings.running = False
    settings.progress = 100.0 * job.fraction
    if job.state == "done":
        settings.takes.clear()
        for take in job.takes:
            item = settings.takes.add()
            item.label, item.seed = take.label, take.seed
            item.action_a, item.action_b = take.actions
        settings.active_candidate = 0  # candidate 1 is already on the rigs
        settings.status = f"{len(job.takes)} candidate(s) from '{job.plan.prompt}'" + understood(job)
        return "INFO", settings.status
    if job.state == "cancelled":
        settings.status = "Cancelled; the scene is unchanged"
        return "INFO", settings.status
    settings.status = "Failed"
    settings.last_error = job.error or "unknown error"
    return "ERROR", settings.last_error


def _redraw(context):
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class INTERMASK_OT_generate(bpy.types.Operator):
    """Send the prompt to the generator and key the rigs with the result (mode chosen in the panel)"""
    bl_idname = "intermask.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None

    def execute(self, context):
        try:
            job = start_job(context)
        except (PlanError, GeneratorError) as e:
            context.scene.intermask.last_error = str(e)
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if bpy.app.background or context.window is None:
            job.finish()
            return self._done(context, job)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        job = _job
        state = job.poll()
        settings = context.scene.intermask
        if state == "running":
            settings.progress = 100.0 * job.fraction
            if job.steps:
                settings.status = f"Sampling step {job.step}/{job.steps}"
            _redraw(context)
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        _redraw(context)
        return self._done(context, job)

    def _done(self, context, job):
        level, message = finish_job(context, job)
        self.report({level}, message)
        return {"FINISHED"} if job.state == "done" else {"CANCELLED"}


class INTERMASK_OT_cancel(bpy.types.Operator):
    """Stop the running generation; the scene stays as it was"""
    bl_idname = "intermask.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return _job is not None and _job.state == "running"

    def execute(self, context):
        _job.cancel()
        context.scene.intermask.status = "Cancelling ..."
        return {"FINISHED"}


class INTERMASK_OT_release(bpy.types.Operator):
    """Unload the model and free its memory (the next generation loads it again)"""
    bl_idname = "intermask.release"
    bl_label = "Release"

    def execute(self, context):
        try:
            generator.release()
        except GeneratorError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, "Model released")
        return {"FINISHED"}


class INTERMASK_OT_generator_start(bpy.types.Operator):
    """Start the generator process now (it also starts by itself on the first generation)"""
    bl_idname = "intermask.generator_start"
    bl_label = "Start generator"

    def execute(self, context):
        try:
            info = generator.client(prefs(context)).start()
        except GeneratorError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Generator ready: {info.get('model_id')} on {info.get('device')}")
        return {"FINISHED"}


class INTERMASK_OT_generator_stop(bpy.types.Operator):
    """Stop the generator process"""
    bl_idname = "intermask.generator_stop"
    bl_label = "Stop generator"

    def execute(self, context):
        generator.stop()
        return {"FINISHED"}


class INTERMASK_OT_create_rigs(bpy.types.Operator):
    """Create two built-in rigs with SMPL proportions and use them as rig A and rig B"""
    bl_idname = "intermask.create_rigs"
    bl_label = "Create rigs"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.intermask
        settings.rig_a = builtin_rig.create("Person A", height=1.78, location=(-0.6, 0.0, 0.0))
        settings.rig_b = builtin_rig.create("Person B", height=1.66, location=(0.6, 0.0, 0.0))
        return {"FINISHED"}


class INTERMASK_OT_show_candidate(bpy.types.Operator):
    """Put this candidate's Actions on the rigs"""
    bl_idname = "intermask.show_candidate"
    bl_label = "Show candidate"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Candidate", description="Which candidate of the last request", min=0)

    def execute(self, context):
        settings = context.scene.intermask
        if not self.index < len(settings.takes):
            self.report({"ERROR"}, f"there is no candidate {self.index + 1}")
            return {"CANCELLED"}
        take = settings.takes[self.index]
        for obj, action in ((settings.rig_a, take.action_a), (settings.rig_b, take.action_b)):
            if obj is not None and action is not None:
                actions.assign(obj, action)
        settings.active_candidate = self.index
        return {"FINISHED"}


class INTERMASK_OT_randomise_seed(bpy.types.Operator):
    """Pick a new random seed"""
    bl_idname = "intermask.randomise_seed"
    bl_label = "Randomise seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.intermask.seed = random.randrange(2 ** 31 - 1)
        return {"FINISHED"}


class INTERMASK_OT_use_action_range(bpy.types.Operator):
    """Set the range to the lead rig's action (React) or to the scene's frame range (Regenerate)"""
    bl_idname = "intermask.use_action_range"
    bl_label = "Use action range"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.intermask
        lead = settings.rig_a if settings.lead == "A" else settings.rig_b
        action = lead.animation_data.action if lead and lead.animation_data else None
        if settings.mode == "REACT" and action is not None:
            settings.range_start, settings.range_end = (int(round(f)) for f in action.frame_range)
        else:
            settings.range_start, settings.range_end = context.scene.frame_start, context.scene.frame_end
        return {"FINISHED"}


CLASSES = [INTERMASK_OT_generate, INTERMASK_OT_cancel, INTERMASK_OT_release, INTERMASK_OT_generator_start,
           INTERMASK_OT_generator_stop, INTERMASK_OT_create_rigs, INTERMASK_OT_show_candidate, INTERMASK_OT_randomise_seed,
           INTERMASK_OT_use_action_range]
