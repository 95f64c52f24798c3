"""The three things the panel does, each as a plan: check the inputs and read what the request needs from
the scene (main thread), send it, and once the result is in apply it to the rigs (main thread again).

Generate both  -> new Actions on both rigs.
React          -> the lead rig's motion over a frame range goes to the model; only the partner is keyed.
Regenerate     -> both rigs' motion over a clip goes to the model; keys inside the range change on the
                  chosen rigs, every frame outside it evaluates exactly as before."""

from dataclasses import dataclass

import numpy as np

from ..server.motion import skeleton as sk
from ..server.motion.features import foot_contacts
from ..server.motion.timing import resample
from . import actions, bake, retarget
from .bonemap import BoneMapError
from .client import decode_motion
from .rig import bone_map, read_rig
from .sample import joint_tracks

MAX_SECONDS = 10.0
MIN_SECONDS = 1.0


class PlanError(ValueError):
    """Inputs the user must fix before anything is sent; the message says how."""


@dataclass
class Take:
    """One candidate as applied: the Action each rig got (None where a rig was left alone)."""
    label: str
    seed: int
    actions: list  # per rig


def scene_fps(scene):
    return scene.render.fps / scene.render.fps_base


def _rigs(settings, which=("A", "B")):
    rigs = {"A": settings.rig_a, "B": settings.rig_b}
    chosen = [rigs[w] for w in which]
    for w, obj in zip(which, chosen):
        if obj is None or obj.type != "ARMATURE":
            raise PlanError(f"choose an armature for rig {w} (or press 'Create rigs')")
    if settings.rig_a is not None and settings.rig_a == settings.rig_b:
        raise PlanError("rig A and rig B must be two different armatures")
    specs = []
    for w, obj in zip(which, chosen):
        try:
            specs.append(read_rig(obj))
        except BoneMapError as e:
            raise PlanError(f"rig {w} ({obj.name}): {e}") from None
    return chosen, specs


def _prompt(settings):
    prompt = " ".join(settings.prompt.split())
    if not prompt:
        raise PlanError("type a prompt describing the interaction")
    if len(prompt) > 1000:
        raise PlanError(f"the prompt has {len(prompt)} characters; at most 1000")
    return prompt


def _sampling(settings):
    # left out, caption projection follows the model's recommendation (models without a caption bank have none)
    as_worded = {"caption_neighbours": 0} if settings.as_worded else {}
    return dict(seed=settings.seed, candidates=settings.candidates, steps=settings.steps,
                guidance=settings.guidance, **as_worded)


def _window(start, end, fps):
    seconds = (end - start + 1) / fps
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise PlanError(f"frames {start}-{end} last {seconds:.1f} s at {fps:g} fps; the model takes "
                        f"{MIN_SECONDS:g} to {MAX_SECONDS:g} s")


def _to_scene(positions, contacts, fps):
    """Model-rate (30 fps) tracks of one person -> scene-rate tracks."""
    if fps == sk.FPS:
        return positions, contacts
    return resample(positions, sk.FPS, fps), resample(contacts.astype(np.float32), sk.FPS, fps) > 0.5


def solve_pair(positions, contacts, specs, fps):
    """Both persons' 30 fps tracks (2, T, 22, 3) and contacts (2, T, 4) -> one retarget.Solved per rig, at
    the scene's frame rate (one key per scene frame)."""
    tracks = [_to_scene(p, c, fps) for p, c in zip(positions, contacts)]
    return retarget.solve([t[0] for t in tracks], [t[1] for t in tracks], specs)


def _contacts_of(positions):
    """Foot contacts (T, 4) of sampled tracks by the motion features' rule (low and slow feet)."""
    flags = foot_contacts(positions)
    return np.concatenate([flags, flags[-1:]])


def show(rigs, take):
    """Put a take's Actions on the rigs (baking the candidates one after another leaves the last one on)."""
    for obj, action in zip(rigs, take.actions):
        if action is not None:
            actions.assign(obj, action)


class Plan:
    """Subclasses fill `request(client, on_progress)` and `apply(result) -> [Take]`."""

    def __init__(self, context, settings):
        self.scene = context.scene
        self.settings = settings
        self.prompt = _prompt(settings)
        self.fps = scene_fps(self.scene)
        self.rigs, self.specs = _rigs(settings)

    def candidates(self, result, kept=None):
        """Each candidate of a result, solved onto both rigs at the scene's rate -> [(Take, [Solved] x2)].
        `kept` {person: tracks at 30 fps} replaces the model's version of a person the user animated, so
        the other one is solved against where that person really is."""
        out = []
        for k, (positions, contacts) in enumerate(decode_motion(result)):
            positions, contacts = positions.copy(), contacts.copy()
            for p, tracks in (kept or {}).items():
                positions[p] = tracks[:positions.shape[1]]
                contacts[p] = _contacts_of(positions[p])
            out.append((Take(f"#{k + 1}", result["candidates"][k]["seed"], [None, None]),
                        solve_pair(positions, contacts, self.specs, self.fps)))
        return out


class GeneratePlan(Plan):
    def __init__(self, context, settings):
        super().__init__(context, settings)
        if not MIN_SECONDS <= settings.seconds <= MAX_SECONDS:
            raise PlanError(f"the duration must be {MIN_SECONDS:g} to {MAX_SECONDS:g} s")
        self.start = settings.start_frame

    def request(self, client, on_progress):
        return client.generate(self.prompt, seconds=self.settings.seconds, on_progress=on_progress,
                               **_sampling(self.settings))

    def apply(self, result):
        takes = []
        for k, (take, solved) in enumerate(self.candidates(result)):
            for p, (obj, spec) in enumerate(zip(self.rigs, self.specs)):
                take.actions[p] = bake.bake(obj, spec, solved[p], bake.action_name(self.prompt, obj.name,
                                            suffix=f" {take.label}"), self.start, stash=k == 0)
            takes.append(take)
        show(self.rigs, takes[0])
        return takes


class ReactPlan(Plan):
    def __init__(self, context, settings):
        super().__init__(context, settings)
        self.lead = 0 if settings.lead == "A" else 1
        self.start, self.end = settings.range_start, settings.range_end
        _window(self.start, self.end, self.fps)
        lead = self.rigs[self.lead]
        tracks = joint_tracks(lead, bone_map(lead), self.start, self.end, self.scene)
        self.given = resample(tracks, self.fps, sk.FPS).astype(np.float32)

    def request(self, client, on_progress):
        return client.react(self.prompt, self.given, given_person=self.lead, on_progress=on_progress,
                            **_sampling(self.settings))

    def apply(self, result):
        partner = 1 - self.lead
        obj, spec = self.rigs[partner], self.specs[partner]
        takes = []
        for k, (take, solved) in enumerate(self.candidates(result, kept={self.lead: self.given})):
            take.actions[partner] = bake.bake(obj, spec, solved[partner],
                                              bake.action_name(self.prompt, obj.name, suffix=f" {take.label}"),
                                              self.start, stash=k == 0)
            takes.append(take)
        show(self.rigs, takes[0])
        return takes


class RegeneratePlan(Plan):
    def __init__(self, context, settings):
        super().__init__(context, settings)
        self.start, self.end = settings.range_start, settings.range_end
        if self.end <= self.start:
            raise PlanError("the range to regenerate must span at least two frames")
        self.persons = {"BOTH": [0, 1], "A": [0], "B": [1]}[settings.regenerate_rigs]
        self.clip = self._clip()
        _window(*self.clip, self.fps)
        tracks = [joint_tracks(o, bone_map(o), *self.clip, self.scene) for o in self.rigs]
        self.motion = np.stack([resample(t, self.fps, sk.FPS) for t in tracks]).astype(np.float32)

    def _clip(self):
        """The context sent with the range: the scene's frame range, cut to at most 10 s around the range."""
        first, last = self.scene.frame_start, self.scene.frame_end
        first, last = min(first, self.start), max(last, self.end)
        most = int(MAX_SECONDS * self.fps) - 1
        if last - first > most:
            centre = (self.start + self.end) // 2
            first = max(first, min(centre - most // 2, self.start))
            last = first + most
            if last < self.end:
                raise PlanError(f"the range {self.start}-{self.end} is longer than {MAX_SECONDS:g} s")
        return first, last

    def request(self, client, on_progress):
        to_model = sk.FPS / self.fps
        start = int(np.floor((self.start - self.clip[0]) * to_model))
        end = min(self.motion.shape[1], int(np.ceil((self.end - self.clip[0] + 1) * to_model)))
        return client.inpaint(self.prompt, self.motion, start, end, persons=self.persons,
                              on_progress=on_progress, **_sampling(self.settings))

    def apply(self, result):
        originals = {p: self.rigs[p].animation_data.action if self.rigs[p].animation_data else None
                     for p in self.persons}
        kept = {p: self.motion[p] for p in (0, 1) if p not in self.persons}
        takes = []
        for k, (take, solved) in enumerate(self.candidates(result, kept)):
            for p in self.persons:
                obj = self.rigs[p]
                name = bake.action_name(self.prompt, obj.name, suffix=f" {self.start}-{self.end} {take.label}")
                # every candidate is spliced into the user's action, not into the previous candidate
                take.actions[p] = bake.splice_range(obj, self.specs[p], solved[p], name, self.clip[0],
                                                    self.start, self.end, source=originals[p], stash=k == 0)
            takes.append(take)
        show(self.rigs, takes[0])
        return takes
