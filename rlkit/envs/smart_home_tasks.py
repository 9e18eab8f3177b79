"""Seeded generator of multi-turn smart-home episodes: casual phrasing, follow-ups, unclear requests."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from rlkit.envs.base import Episode, Step, Turn, call_step
from rlkit.envs.phrasing import Intent, casualize
from rlkit.envs.smart_home import DOORS, MAX_TEMP, MIN_TEMP, MODES, ROOMS, SmartHomeEnv
from rlkit.toolcall.call import ToolCall

ROOM_WORDS = {
    "living_room": ("living room", "living room", "lounge", "livingroom"), "bedroom": ("bedroom", "bed room"),
    "kitchen": ("kitchen",), "bathroom": ("bathroom", "bath room", "washroom"), "office": ("office", "study"),
    "hallway": ("hallway", "hall"),
}
SCENE_WORDS = {"movie_night": ("movie night", "movie"), "bedtime": ("bedtime", "sleep"), "morning": ("morning",),
               "away": ("away", "vacation"), "party": ("party",)}
DEVICES = ("tv", "coffee maker", "sprinklers", "oven", "dishwasher", "ceiling fan", "washing machine",
           "speakers", "robot vacuum", "blinds", "hot tub", "fridge")
N_WORDS = {1: ("1", "one"), 2: ("2", "two", "a couple"), 3: ("3", "three"), 4: ("4", "four"), 5: ("5", "five")}

INTENTS = {i.key: i for i in [
    Intent("lights", ("turn {state} the {room} lights", "switch the {room} lights {state}",
                 "can you turn the lights {state} in the {room}?", "{room} lights {state}",
                 "lights {state} in the {room} please", "please switch {state} the light in the {room}",
                 "I'd like the {room} lights {state}", "could you put the {room} lights {state}",
                 "make sure the {room} lights are {state}", "I need the lights {state} in the {room}",
                 "{room} light {state} pls", "flip the {room} lights {state}")),
    Intent("lights_off_idiom", ("kill the lights in the {room}", "it's way too bright in the {room}",
                           "lights out in the {room}", "shut off the {room} light", "nobody's in the {room}, save some power",
                           "cut the {room} lights")),
    Intent("lights_on_idiom", ("it's dark in the {room}", "I can't see a thing in the {room}", "light up the {room}",
                          "brighten up the {room} please", "need some light in the {room}", "it's pitch black in the {room}")),
    Intent("lights_two", ("turn {state} the {room} and {room2} lights", "{room} and {room2} lights {state}",
                     "switch the lights {state} in the {room} and the {room2}", "can you get the {room} and {room2} lights {state}",
                     "lights {state} in both the {room} and {room2}", "I want the {room} and the {room2} {state}")),
    Intent("temp", ("set the thermostat to {temp}", "make it {temp} degrees", "change the temperature to {temp}",
               "I want it at {temp}", "thermostat {temp} pls", "can you set the temp to {temp} degrees",
               "put the thermostat on {temp}", "{temp} degrees please", "could it be {temp} in here",
               "temp to {temp}", "set it to {temp} degrees fahrenheit", "adjust the thermostat to {temp}")),
    Intent("temp_mode", ("set the thermostat to {temp} on {mode}", "{mode} mode at {temp} degrees",
                    "put it on {mode} and set {temp}", "I want {mode} at {temp}", "{mode} to {temp} please",
                    "thermostat: {mode}, {temp} degrees", "switch to {mode} and make it {temp}", "{temp} degrees, {mode} mode")),
    Intent("mode", ("switch the thermostat to {mode}", "{mode} mode please", "change the thermostat mode to {mode}",
               "set the thermostat to {mode} mode", "put the heating on {mode}", "can you use {mode} mode")),
    Intent("door", ("{state} the {door} door", "can you {state} the {door} door", "please {state} the {door} door",
               "{door} door, {state} it", "I need the {door} door {state}ed", "make sure the {door} door is {state}ed",
               "{state} {door} door pls", "could you {state} the door at the {door}")),
    Intent("status_lights", ("are the {room} lights on?", "is the {room} light still on", "did I leave the {room} lights on",
                        "check the lights in the {room}", "what's up with the {room} lights", "{room} lights on or off?")),
    Intent("status_temp", ("what's the thermostat set to?", "how warm is it set", "what temperature is it on",
                      "check the thermostat", "what's the temp at right now", "thermostat status")),
    Intent("status_doors", ("are the doors locked?", "did I lock up", "check the doors", "is everything locked",
                       "door status please", "are all the doors shut and locked")),
    Intent("status_all", ("give me a status of everything", "what's going on in the house", "status report",
                     "how's the house looking", "what's on right now", "full device status please")),
    Intent("scene", ("activate {scene} mode", "set the {scene} scene", "switch to {scene}", "{scene} scene please",
                "run the {scene} scene", "start {scene} mode", "go to {scene} mode", "turn on the {scene} scene")),
    Intent("off_topic", ("what's the weather like tomorrow", "tell me a joke", "who won the game last night",
                    "order me a pizza", "what's 15 times 4", "remind me to call mom at 5", "how do I boil an egg",
                    "what's the capital of australia", "book me a flight to denver", "how tall is mount everest",
                    "what time is it in tokyo", "write me a poem about cats")),
    Intent("unsupported", ("turn on the {device}", "switch off the {device}", "can you start the {device}",
                      "{device} on please", "is the {device} running?", "shut the {device} off")),
    Intent("ambiguous", ("make it nicer in here", "do the usual", "fix it", "change it", "can you do the thing",
                    "it's weird in here", "set things up for later", "sort it out please")),
    Intent("incomplete_lights", ("turn the lights {state}", "switch {state} the lights", "lights {state}",
                            "can you turn the light {state}")),
    Intent("incomplete_door", ("{state} the door", "can you {state} the door", "{state} it please", "door, {state}")),
    Intent("incomplete_temp", ("change the thermostat", "set the temperature", "adjust the temp", "thermostat please")),
    Intent("answer_room", ("the {room}", "in the {room}", "{room} pls", "{room}", "the {room} one", "oh the {room}")),
    Intent("answer_door", ("the {door} one", "{door}", "the {door} door", "{door} door please")),
    Intent("answer_temp", ("{temp}", "make it {temp}", "{temp} degrees", "{temp} please")),
    Intent("lights_too", ("the {room} too", "and the {room}", "same for the {room}", "{room} as well",
                     "do the {room} too please", "also the {room} lights", "what about the {room}, same thing",
                     "{room} too")),
    Intent("lights_undo", ("actually turn it back {state}", "never mind, switch it back {state}", "turn them {state} again",
                      "put them back {state}", "wait, {state} again please", "undo that, {state}")),
    Intent("warmer", ("make it {n} degrees warmer", "bump it up {n}", "{n} degrees warmer", "turn the heat up {n} degrees",
                 "raise it by {n}", "a bit warmer, like {n} degrees", "up {n} more", "warmer by {n} please")),
    Intent("cooler", ("make it {n} degrees cooler", "turn it down {n}", "{n} degrees cooler", "drop it {n} degrees",
                 "lower it by {n}", "a bit cooler, maybe {n} degrees", "down {n} more", "cooler by {n} please")),
    Intent("door_flip", ("now {state} it", "ok {state} it again", "{state} it back", "actually {state} it",
                    "and now {state} it", "{state} it again please")),
    Intent("door_too", ("the {door} one too", "and the {door} door", "same with the {door} door", "{door} too",
                   "also the {door}", "do the {door} as well")),
    Intent("act_on_status", ("ok turn them {state}", "then switch it {state}", "turn it {state} then",
                        "{state} please", "go ahead and turn them {state}", "switch them {state}")),
]}
OFF_DOMAIN_INTENTS = {"off_topic", "unsupported", "ambiguous"}


@dataclass
class Memory:
    """What later turns may refer back to."""

    light_rooms: list[str] = field(default_factory=list)
    light_state: str | None = None
    temperature: int | None = None
    door: str | None = None
    door_state: str | None = None
    pending: tuple[str, str] | None = None  # ("lights", state) / ("door", state) / ("temp", "")
    status_room: str | None = None


@dataclass
class Move:
    """One planned user turn: the phrasing intent, its slot values and the reference calls."""

    intent: str
    slots: dict
    calls: list[ToolCall]
    unclear_reply: tuple[str, list[str]] | None = None


def _c(name: str, **arguments) -> ToolCall:
    return ToolCall(name, arguments)


def _word(rng: random.Random, table: dict, key: str) -> str:
    return rng.choice(table[key])


def plan_move(rng: random.Random, env: SmartHomeEnv, mem: Memory) -> Move:
    """Pick this turn's request given the conversation so far."""
    options: list[tuple[float, str]] = [(4, "lights"), (1, "lights_idiom"), (1.2, "lights_two"), (1.5, "temp"),
                                        (1, "temp_mode"), (0.7, "mode"), (2, "door"), (1.4, "status"), (1, "scene"),
                                        (0.8, "off_topic"), (0.7, "unsupported"), (0.5, "ambiguous"), (0.9, "incomplete")]
    if mem.pending:
        options.append((12, "answer"))
    if mem.light_rooms:
        options += [(3, "lights_too"), (1.5, "lights_undo")]
    if mem.temperature is not None:
        options.append((3, "relative_temp"))
    if mem.door:
        options += [(2.5, "door_flip"), (1.5, "door_too")]
    if mem.status_room:
        options.append((4, "act_on_status"))
    kind = rng.choices([k for _, k in options], weights=[w for w, _ in options])[0]
    return MOVES[kind](rng, env, mem)


def _lights(rng, env, mem):
    room, state = rng.choice(ROOMS), rng.choice(("on", "off"))
    return Move("lights", {"room": _word(rng, ROOM_WORDS, room), "state": state}, [_c("toggle_lights", room=room, state=state)])


def _lights_idiom(rng, env, mem):
    room, state = rng.choice(ROOMS), rng.choice(("on", "off"))
    return Move(f"lights_{state}_idiom", {"room": _word(rng, ROOM_WORDS, room)}, [_c("toggle_lights", room=room, state=state)])


def _lights_two(rng, env, mem):
    room, room2 = rng.sample(ROOMS, 2)
    state = rng.choice(("on", "off"))
    slots = {"room": _word(rng, ROOM_WORDS, room), "room2": _word(rng, ROOM_WORDS, room2), "state": state}
    return Move("lights_two", slots, [_c("toggle_lights", room=room, state=state), _c("toggle_lights", room=room2, state=state)])


def _temp(rng, env, mem):
    temp = rng.randint(MIN_TEMP, MAX_TEMP)
    return Move("temp", {"temp": temp}, [_c("set_thermostat", temperature=temp)])


def _temp_mode(rng, env, mem):
    temp, mode = rng.randint(MIN_TEMP, MAX_TEMP), rng.choice(MODES)
    return Move("temp_mode", {"temp": temp, "mode": mode}, [_c("set_thermostat", temperature=temp, mode=mode)])


def _mode(rng, env, mem):
    mode = rng.choice(MODES)
    return Move("mode", {"mode": mode}, [_c("set_thermostat", mode=mode)])


def _door(rng, env, mem):
    door, state = rng.choice(DOORS), rng.choice(("lock", "unlock"))
    return Move("door", {"door": door, "state": state}, [_c("lock_door", door=door, state=state)])


def _status(rng, env, mem):
    which = rng.choice(("lights", "lights", "temp", "doors", "all"))
    if which == "lights":
        room = rng.choice(ROOMS)
        return Move("status_lights", {"room": _word(rng, ROOM_WORDS, room)},
                    [_c("get_device_status", device_type="lights", room=room)])
    device = {"temp": "thermostat", "doors": "door", "all": "all"}[which]
    return Move(f"status_{which}", {}, [_c("get_device_status", device_type=device)])


def _scene(rng, env, mem):
    scene = rng.choice(list(SCENE_WORDS))
    return Move("scene", {"scene": _word(rng, SCENE_WORDS, scene)}, [_c("set_scene", scene=scene)])


def _unclear(reason: str, intent: str, slots: dict, reply: str, facts: list[str]) -> Move:
    return Move(intent, slots, [_c("intent_unclear", reason=reason)], (reply, facts))


def _off_topic(rng, env, mem):
    return _unclear("off_topic", "off_topic", {}, rng.choice((
        "Sorry, that's outside what I can do. I can help with your lights, the thermostat, door locks and scenes.",
        "I can't help with that one. I only control the lights, thermostat, doors and scenes in your home.")),
        ["lights", "thermostat"])


def _unsupported(rng, env, mem):
    device = rng.choice(DEVICES)
    return _unclear("unsupported_device", "unsupported", {"device": device},
                    f"I can't control the {device}. I can only handle lights, the thermostat, door locks and scenes.",
                    [device])


def _ambiguous(rng, env, mem):
    return _unclear("ambiguous", "ambiguous", {},
                    "I'm not sure what you'd like me to change. Do you mean the lights, the thermostat or a door?",
                    ["lights", "thermostat", "door"])


def _incomplete(rng, env, mem):
    what = rng.choice(("lights", "lights", "door", "temp"))
    if what == "lights":
        state = rng.choice(("on", "off"))
        mem.pending = ("lights", state)
        return _unclear("incomplete", "incomplete_lights", {"state": state},
                        f"Which room should I turn the lights {state} in?", ["room"])
    if what == "door":
        state = rng.choice(("lock", "unlock"))
        mem.pending = ("door", state)
        return _unclear("incomplete", "incomplete_door", {"state": state},
                        f"Which door should I {state}: front, back, garage or side?", ["door"])
    mem.pending = ("temp", "")
    return _unclear("incomplete", "incomplete_temp", {}, "Sure, what temperature would you like?", ["temperature"])


def _answer(rng, env, mem):
    kind, state = mem.pending
    if kind == "lights":
        room = rng.choice(ROOMS)
        return Move("answer_room", {"room": _word(rng, ROOM_WORDS, room)}, [_c("toggle_lights", room=room, state=state)])
    if kind == "door":
        door = rng.choice(DOORS)
        return Move("answer_door", {"door": door}, [_c("lock_door", door=door, state=state)])
    temp = rng.randint(MIN_TEMP, MAX_TEMP)
    return Move("answer_temp", {"temp": temp}, [_c("set_thermostat", temperature=temp)])


def _lights_too(rng, env, mem):
    room = rng.choice([r for r in ROOMS if r not in mem.light_rooms])
    return Move("lights_too", {"room": _word(rng, ROOM_WORDS, room)}, [_c("toggle_lights", room=room, state=mem.light_state)])


def _lights_undo(rng, env, mem):
    state = "off" if mem.light_state == "on" else "on"
    return Move("lights_undo", {"state": state}, [_c("toggle_lights", room=r, state=state) for r in mem.light_rooms])


def _relative_temp(rng, env, mem):
    n = rng.randint(1, 5)
    up = mem.temperature + n <= MAX_TEMP and (mem.temperature - n < MIN_TEMP or rng.random() < 0.5)
    target = mem.temperature + n if up else mem.temperature - n
    return Move("warmer" if up else "cooler", {"n": _word(rng, N_WORDS, n)}, [_c("set_thermostat", temperature=target)])


def _door_flip(rng, env, mem):
    state = "unlock" if mem.door_state == "lock" else "lock"
    return Move("door_flip", {"state": state}, [_c("lock_door", door=mem.door, state=state)])


def _door_too(rng, env, mem):
    door = rng.choice([d for d in DOORS if d != mem.door])
    return Move("door_too", {"door": door}, [_c("lock_door", door=door, state=mem.door_state)])


def _act_on_status(rng, env, mem):
    state = "off" if env.view()["lights"][mem.status_room] == "on" else "on"
    return Move("act_on_status", {"state": state}, [_c("toggle_lights", room=mem.status_room, state=state)])


MOVES = {"lights": _lights, "lights_idiom": _lights_idiom, "lights_two": _lights_two, "temp": _temp,
         "temp_mode": _temp_mode, "mode": _mode, "door": _door, "status": _status, "scene": _scene,
         "off_topic": _off_topic, "unsupported": _unsupported, "ambiguous": _ambiguous, "incomplete": _incomplete,
         "answer": _answer, "lights_too": _lights_too, "lights_undo": _lights_undo, "relative_temp": _relative_temp,
         "door_flip": _door_flip, "door_too": _door_too, "act_on_status": _act_on_status}


def remember(mem: Memory, move: Move, env: SmartHomeEnv) -> None:
    """Update what follow-ups can refer to after this turn's calls ran."""
    if move.intent.startswith("incomplete"):
        return
    mem.pending, mem.status_room = None, None
    lights = [c for c in move.calls if c.name == "toggle_lights"]
    if lights:
        mem.light_rooms = [c.arguments["room"] for c in lights]
        mem.light_state = lights[0].arguments["state"]
    for call in move.calls:
        if call.name == "set_thermostat" or (call.name == "get_device_status" and call.arguments.get("device_type") in ("thermostat", "all")):
            mem.temperature = env.view()["thermostat"]["temperature"]
        if call.name == "lock_door":
            mem.door, mem.door_state = call.arguments["door"], call.arguments["state"]
        if call.name == "get_device_status" and call.arguments.get("room"):
            mem.status_room = call.arguments["room"]
        if call.name == "set_scene":
            mem.light_rooms, mem.door = [], None


def describe(call: ToolCall, response: str, rng: random.Random) -> tuple[str, list[str]]:
    """A reference sentence about one call's result, and the facts it states."""
    data, args = json.loads(response), call.arguments
    if call.name == "toggle_lights":
        room = args["room"].replace("_", " ")
        text = rng.choice((f"the {room} lights are {data['lights']} now", f"I switched the {room} lights {data['lights']}",
                           f"the lights in the {room} are {data['lights']}"))
        return text, [room, data["lights"]]
    if call.name == "set_thermostat":
        t, mode = data["temperature"], data["mode"]
        return f"the thermostat is set to {t} degrees in {mode} mode", [str(t), mode]
    if call.name == "lock_door":
        return f"the {data['door']} door is {data['status']}", [data["door"], data["status"]]
    if call.name == "set_scene":
        scene = data["scene"].replace("_", " ")
        return f"the {scene} scene is on", [scene]
    return _describe_status(data)


def _describe_status(data: dict) -> tuple[str, list[str]]:
    parts, facts = [], []
    lights = data.get("lights", {})
    if len(lights) == 1:
        room, state = next(iter(lights.items()))
        parts.append(f"the {room.replace('_', ' ')} lights are {state}")
        facts += [room.replace("_", " "), state]
    elif lights:
        on = [r.replace("_", " ") for r, s in lights.items() if s == "on"]
        parts.append(f"lights are on in the {', '.join(on)}" if on else "all the lights are off")
        facts += on or ["off"]
    if "thermostat" in data:
        t = data["thermostat"]
        parts.append(f"the thermostat is at {t['temperature']} degrees on {t['mode']}")
        facts += [str(t["temperature"]), t["mode"]]
    if "doors" in data:
        unlocked = [d for d, s in data["doors"].items() if s == "unlocked"]
        parts.append(f"the {' and '.join(unlocked)} door{'s are' if len(unlocked) > 1 else ' is'} unlocked"
                     if unlocked else "all the doors are locked")
        facts += unlocked or ["locked"]
    return "; ".join(parts), facts


def reply_for(move: Move, step: Step, rng: random.Random) -> Step:
    """The closing free-text assistant message of a turn."""
    if move.unclear_reply:
        text, facts = move.unclear_reply
        return Step(reply=text, facts=facts)
    sentences, facts = [], []
    for call, response in zip(step.calls, step.responses):
        text, found = describe(call, response, rng)
        sentences.append(text)
        facts += [f for f in found if f not in facts]
    body = " and ".join(sentences)
    opener = "" if step.calls[0].name == "get_device_status" else rng.choice(("Done, ", "Okay, ", "All set: ", "Sure, "))
    text = (opener + body) if opener else body[0].upper() + body[1:]
    return Step(reply=text + ".", facts=facts)


TURN_WEIGHTS = (0.25, 0.25, 0.2, 0.15, 0.15)


def generate_episode(rng: random.Random, split: str, episode_id: str, env_seed: int) -> Episode:
    """One seeded smart-home conversation of 1-5 user turns."""
    env = SmartHomeEnv(seed=env_seed)
    mem, turns = Memory(), []
    for _ in range(rng.choices(range(1, 6), weights=TURN_WEIGHTS)[0]):
        move = plan_move(rng, env, mem)
        template_id, template = INTENTS[move.intent].pick(rng, split)
        user = casualize(template.format(**move.slots), rng)
        step = call_step(env, move.calls)
        remember(mem, move, env)
        turns.append(Turn(user=user, template_id=f"smart_home.{template_id}", steps=[step, reply_for(move, step, rng)],
                          off_domain=move.intent in OFF_DOMAIN_INTENTS))
    return Episode(env="smart_home", episode_id=episode_id, split=split, env_seed=env_seed,
                   system=SmartHomeEnv.system_prompt, tools=SmartHomeEnv.tools, turns=turns, final_state=env.view())
