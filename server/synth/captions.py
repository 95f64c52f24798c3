"""Caption templates for every family, with paraphrases, and the InterHuman style ("one person ... the
other ..."). Slots: {a} the initiator, {b} the other, {hand} right/left, {Two} a subject for both."""

import re

SUBJECT_A = ("one person", "a person", "the first person", "someone", "one of them", "a man", "a woman")
SUBJECT_B = ("the other", "the other person", "the second person", "their partner", "the other one")
BOTH = ("two people", "two persons", "the two people", "a pair of people", "two friends", "both people")

TEMPLATES = {
    "handshake": [
        "{a} shakes hands with {b}.",
        "{Two} shake hands.",
        "{a} reaches out {their} {hand} hand and {b} shakes it.",
        "{Two} greet each other with a handshake.",
        "{a} offers a {hand}-handed handshake and {b} accepts it.",
        "{Two} stand facing each other and shake hands firmly.",
    ],
    "high_five": [
        "{a} gives {b} a high five.",
        "{Two} high five each other.",
        "{a} raises {their} {hand} hand and {b} slaps it in a high five.",
        "{Two} slap their raised hands together overhead.",
        "{a} and {b} celebrate with a high five.",
    ],
    "fist_bump": [
        "{a} fist bumps {b}.",
        "{Two} bump fists.",
        "{a} holds out a fist and {b} bumps it with {their_b} own.",
        "{Two} greet each other with a fist bump.",
        "{a} touches fists with {b}.",
    ],
    "hug": [
        "{a} hugs {b}.",
        "{Two} hug each other.",
        "{a} wraps {their} arms around {b} and {b} hugs back.",
        "{Two} embrace warmly.",
        "{a} and {b} give each other a big hug.",
    ],
    "wave": [
        "{a} waves at {b} and {b} waves back.",
        "{Two} wave to each other from a distance.",
        "{a} raises {their} {hand} hand and waves, then {b} waves back.",
        "{Two} greet each other by waving.",
        "{a} waves hello to {b}, who answers with a wave.",
    ],
    "bow": [
        "{a} bows to {b} and {b} bows back.",
        "{Two} bow to each other.",
        "{a} bends forward in a bow and {b} returns the bow.",
        "{Two} greet each other with a polite bow.",
        "{a} and {b} exchange bows.",
    ],
    "pat_shoulder": [
        "{a} pats {b} on the shoulder.",
        "{a} taps {b}'s shoulder with {their} {hand} hand.",
        "{a} reaches out and pats the shoulder of {b}.",
        "{a} gives {b} a friendly pat on the shoulder.",
        "{a} comforts {b} with a few pats on the shoulder.",
    ],
    "push": [
        "{a} pushes {b} away.",
        "{a} shoves {b} in the chest with both hands.",
        "{a} pushes {b}, who stumbles backwards.",
        "{a} pushes {b} hard and {b} steps back.",
        "{Two} face each other and {a} pushes {b} back.",
    ],
    "punch_dodge": [
        "{a} throws a punch at {b} and {b} dodges it.",
        "{a} punches at {b}, who ducks out of the way.",
        "{a} swings {their} {hand} fist at {b} but {b} leans away.",
        "{Two} spar: {a} punches and {b} evades.",
        "{a} attacks with a punch and {b} avoids it.",
    ],
    "punch_block": [
        "{a} punches {b} and {b} blocks it.",
        "{a} throws a {hand} punch and {b} blocks with {their_b} arm.",
        "{b} blocks a punch from {a}.",
        "{Two} spar: {a} punches and {b} raises an arm to block.",
        "{a} strikes at {b}'s head and {b} guards against it.",
    ],
    "kick": [
        "{a} kicks {b}.",
        "{a} kicks {b} with {their} {hand} leg and {b} staggers back.",
        "{a} lands a kick on {b}, who doubles over.",
        "{a} delivers a kick and {b} is knocked backwards.",
        "{Two} fight and {a} kicks {b}.",
    ],
    "pull_by_hand": [
        "{a} pulls {b} by the hand.",
        "{a} grabs {b}'s hand and pulls {b} along.",
        "{a} takes {b} by the hand and walks away, dragging {b} behind.",
        "{a} holds {b}'s hand and leads {b} away.",
        "{a} tugs {b} forward by the hand.",
    ],
    "pass_object": [
        "{a} hands an object to {b}.",
        "{a} passes something to {b} with {their} {hand} hand.",
        "{a} gives {b} an item and {b} takes it.",
        "{b} receives something from {a}.",
        "{a} holds out an object and {b} takes it from {their} hand.",
    ],
    "approach_stop": [
        "{Two} walk towards each other and stop.",
        "{a} walks up to {b} and stops in front of {b}.",
        "{Two} approach each other and stand face to face.",
        "{a} and {b} walk towards each other and halt.",
        "{a} comes over to {b} and stops.",
    ],
    "walk_past": [
        "{Two} walk past each other.",
        "{a} and {b} walk in opposite directions and pass each other.",
        "{Two} cross paths while walking.",
        "{a} walks by {b}, who walks the other way.",
        "{Two} pass by one another without stopping.",
    ],
    "follow": [
        "{a} walks and {b} follows.",
        "{b} follows {a}.",
        "{a} walks ahead while {b} follows behind.",
        "{b} walks behind {a}, following {their} path.",
        "{Two} walk one behind the other.",
    ],
    "chase": [
        "{b} chases {a}.",
        "{a} runs away and {b} chases after {them}.",
        "{Two} run, one chasing the other.",
        "{b} runs after {a}.",
        "{a} is being chased by {b}.",
    ],
    "circle": [
        "{Two} circle around each other.",
        "{a} and {b} move in a circle, facing each other.",
        "{Two} circle each other like boxers.",
        "{a} circles around {b} while {b} circles too.",
        "{Two} walk sideways in a circle, watching each other.",
    ],
    "slow_dance": [
        "{Two} slow dance holding hands.",
        "{a} and {b} dance slowly together, hand in hand.",
        "{Two} hold hands and sway in a slow dance.",
        "{a} dances with {b}, holding both hands.",
        "{Two} dance together, turning slowly.",
    ],
    "point_argue": [
        "{Two} argue, pointing at each other.",
        "{a} points at {b} angrily and {b} points back.",
        "{a} argues with {b}, jabbing a finger at {them}.",
        "{Two} have a heated argument.",
        "{a} and {b} quarrel, taking turns pointing at each other.",
    ],
    "clap_together": [
        "{Two} clap hands together.",
        "{a} and {b} play a clapping game.",
        "{Two} clap their own hands and then each other's.",
        "{a} claps hands with {b} several times.",
        "{Two} face each other and clap their palms together.",
    ],
    "help_stand_up": [
        "{a} helps {b} stand up.",
        "{a} gives {b} a hand and pulls {them_b} up.",
        "{b} is crouching and {a} helps {them_b} to {their_b} feet.",
        "{a} reaches down with {their} {hand} hand and lifts {b} up.",
        "{a} pulls {b} up from a crouch.",
    ],
    "tug_of_war": [
        "{Two} play tug of war.",
        "{a} and {b} pull on a rope against each other.",
        "{Two} hold a rope and pull it back and forth.",
        "{a} tugs a rope while {b} pulls the other end.",
        "{Two} compete in a tug of war.",
    ],
    "approach_retreat": [
        "{a} approaches {b} and {b} steps back.",
        "{a} walks towards {b}, who backs away.",
        "{b} retreats as {a} comes closer.",
        "{a} moves towards {b} and {b} keeps {their_b} distance by stepping back.",
        "{a} advances on {b}, who walks backwards.",
    ],
}

# "walk towards each other and ..." : the verb phrases of the families that can follow an approach
APPROACH_TEMPLATES = [
    "{Two} walk towards each other and {vp}.",
    "{a} walks up to {b} and they {vp}.",
    "{Two} approach each other, then {vp}.",
    "{Two} meet and {vp}.",
    "{a} and {b} walk over to each other and {vp}.",
]
VERB_PHRASES = {
    "handshake": ["shake hands", "shake each other's hand"],
    "high_five": ["high five", "give each other a high five"],
    "fist_bump": ["bump fists", "fist bump"],
    "hug": ["hug", "embrace"],
    "bow": ["bow to each other", "exchange bows"],
    "pat_shoulder": ["one pats the other on the shoulder"],
    "push": ["one pushes the other away"],
    "pass_object": ["one hands something to the other"],
    "punch_block": ["one punches while the other blocks"],
    "wave": ["wave to each other"],
}


def _fill(rng, hand):
    a = rng.choice(SUBJECT_A)
    b = rng.choice(SUBJECT_B)
    values = {"a": a, "b": b, "Two": rng.choice(BOTH), "hand": hand, "vp": "",
              "their": "their", "their_b": "their", "them": "them", "them_b": "them"}
    if a in ("a man", "a woman"):
        pronoun = "his" if a == "a man" else "her"
        values.update(their=pronoun, them="him" if a == "a man" else "her")
    return values


def caption(family, rng, hand="right", approach=False):
    """One caption for a scene of `family`; with `approach`, an approach-then-action sentence."""
    template = rng.choice(APPROACH_TEMPLATES if approach else TEMPLATES[family])
    values = _fill(rng, hand)
    if approach:
        values["vp"] = rng.choice(VERB_PHRASES[family])
    text = template.format(**values)
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:]
