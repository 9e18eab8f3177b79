"""Smart-home env: lights per room, a thermostat, door locks and scenes (`python -m rlkit.envs.show smart_home --show 3`)."""

from __future__ import annotations

import random

from rlkit.envs.base import ToolEnv, ToolError, ok_response

ROOMS = ("living_room", "bedroom", "kitchen", "bathroom", "office", "hallway")
DOORS = ("front", "back", "garage", "side")
MODES = ("heat", "cool", "auto")
SCENES = ("movie_night", "bedtime", "morning", "away", "party")
DEVICE_TYPES = ("lights", "thermostat", "door", "all")
UNCLEAR_REASONS = ("ambiguous", "off_topic", "incomplete", "unsupported_device")
MIN_TEMP, MAX_TEMP = 60, 80

SYSTEM_PROMPT = (
    "You are the voice of a smart-home hub. Use the tools to control lights, the thermostat and door "
    "locks, to set scenes and to report device status. Resolve follow-ups such as 'the bathroom too' "
    "or 'two degrees warmer' from the conversation so far. If a request names no room or door, asks "
    "for a device the hub does not have, is ambiguous or is not about the home, call intent_unclear "
    "with the reason. After a tool result, tell the user briefly what happened."
)


def _fn(name: str, description: str, properties: dict) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": []},
        },
    }


def _enum(values: tuple[str, ...], description: str) -> dict:
    return {"type": "string", "enum": list(values), "description": description}


TOOLS = [
    _fn("toggle_lights", "Switch the lights of one room on or off.", {
        "room": _enum(ROOMS, "Room whose lights to switch."),
        "state": _enum(("on", "off"), "Whether the lights should be on or off."),
    }),
    _fn("set_thermostat", "Set the target temperature (Fahrenheit) and/or the mode of the thermostat.", {
        "temperature": {"type": "integer", "minimum": MIN_TEMP, "maximum": MAX_TEMP,
                        "description": "Target temperature in degrees Fahrenheit, 60 to 80."},
        "mode": _enum(MODES, "Heating mode."),
    }),
    _fn("lock_door", "Lock or unlock one door.", {
        "door": _enum(DOORS, "Which door."),
        "state": _enum(("lock", "unlock"), "Lock or unlock it."),
    }),
    _fn("get_device_status", "Report the current state of devices.", {
        "device_type": _enum(DEVICE_TYPES, "Kind of device to report on."),
        "room": {"type": "string", "description": "Limit the report to this room."},
    }),
    _fn("set_scene", "Apply a preset scene that sets several devices at once.", {
        "scene": _enum(SCENES, "Scene to apply."),
    }),
    _fn("intent_unclear", "Use instead of acting when the request cannot or should not be carried out.", {
        "reason": _enum(UNCLEAR_REASONS, "Why the request cannot be acted on."),
    }),
]

# What each scene does, applied on top of the current state.
SCENE_EFFECTS = {
    "movie_night": {"lights": {"living_room": "off", "hallway": "off", "kitchen": "off"}},
    "bedtime": {"lights": {r: "off" for r in ROOMS}, "doors": {d: "locked" for d in DOORS}, "temperature": 66},
    "morning": {"lights": {"kitchen": "on", "bedroom": "on", "bathroom": "on"}, "temperature": 71},
    "away": {"lights": {r: "off" for r in ROOMS}, "doors": {d: "locked" for d in DOORS}, "mode": "auto"},
    "party": {"lights": {"living_room": "on", "kitchen": "on", "hallway": "on"}, "temperature": 68},
}


class SmartHomeEnv(ToolEnv):
    """A house with six rooms of lights, one thermostat and four door locks."""

    name = "smart_home"
    tools = TOOLS
    system_prompt = SYSTEM_PROMPT

    def initial_state(self, rng: random.Random) -> dict:
        """Random lights and locks, a plausible thermostat setting."""
        return {
            "lights": {room: rng.choice(("on", "off")) for room in ROOMS},
            "thermostat": {"temperature": rng.randint(64, 76), "mode": rng.choice(MODES)},
            "doors": {door: rng.choice(("locked", "locked", "unlocked")) for door in DOORS},
            "scene": None,
            "unclear_requests": [],
        }

    def tool_toggle_lights(self, room: str | None = None, state: str | None = None) -> str:
        """Switch one room's lights."""
        if room is None:
            raise ToolError("toggle_lights needs a room")
        _check_enum("room", room, ROOMS)
        if state is None:  # no state given: flip the current one
            state = "off" if self._world["lights"][room] == "on" else "on"
        _check_enum("state", state, ("on", "off"))
        self._world["lights"][room] = state
        return ok_response(room=room, lights=state)

    def tool_set_thermostat(self, temperature: int | None = None, mode: str | None = None) -> str:
        """Change target temperature and/or mode."""
        if temperature is None and mode is None:
            raise ToolError("set_thermostat needs a temperature or a mode")
        thermostat = self._world["thermostat"]
        if temperature is not None:
            if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature != int(temperature):
                raise ToolError(f"temperature must be a whole number, got {temperature!r}")
            if not MIN_TEMP <= temperature <= MAX_TEMP:
                raise ToolError(f"temperature {temperature} is out of range ({MIN_TEMP}-{MAX_TEMP})")
            thermostat["temperature"] = int(temperature)
        if mode is not None:
            _check_enum("mode", mode, MODES)
            thermostat["mode"] = mode
        return ok_response(temperature=thermostat["temperature"], mode=thermostat["mode"])

    def tool_lock_door(self, door: str | None = None, state: str | None = None) -> str:
        """Lock or unlock a door (locking when no state is given)."""
        if door is None:
            raise ToolError("lock_door needs a door")
        _check_enum("door", door, DOORS)
        state = state or "lock"
        _check_enum("state", state, ("lock", "unlock"))
        self._world["doors"][door] = "locked" if state == "lock" else "unlocked"
        return ok_response(door=door, status=self._world["doors"][door])

    def tool_get_device_status(self, device_type: str | None = None, room: str | None = None) -> str:
        """Report lights (optionally of one room), thermostat, doors, or everything."""
        device_type = device_type or "all"
        _check_enum("device_type", device_type, DEVICE_TYPES)
        if room is not None and room not in ROOMS and room not in DOORS:
            raise ToolError(f"unknown room '{room}'; rooms: {', '.join(ROOMS)}")
        report: dict = {}
        if device_type in ("lights", "all"):
            lights = self._world["lights"]
            report["lights"] = {room: lights[room]} if room in ROOMS else dict(lights)
        if device_type in ("thermostat", "all"):
            report["thermostat"] = dict(self._world["thermostat"])
        if device_type in ("door", "all"):
            doors = self._world["doors"]
            report["doors"] = {room: doors[room]} if room in DOORS else dict(doors)
        return ok_response(**report)

    def tool_set_scene(self, scene: str | None = None) -> str:
        """Apply a scene's preset changes."""
        if scene is None:
            raise ToolError("set_scene needs a scene")
        _check_enum("scene", scene, SCENES)
        effect = SCENE_EFFECTS[scene]
        self._world["lights"].update(effect.get("lights", {}))
        self._world["doors"].update(effect.get("doors", {}))
        if "temperature" in effect:
            self._world["thermostat"]["temperature"] = effect["temperature"]
        if "mode" in effect:
            self._world["thermostat"]["mode"] = effect["mode"]
        self._world["scene"] = scene
        return ok_response(scene=scene, applied=True)

    def tool_intent_unclear(self, reason: str | None = None) -> str:
        """Record that the request was not acted on."""
        reason = reason or "ambiguous"
        _check_enum("reason", reason, UNCLEAR_REASONS)
        self._world["unclear_requests"].append(reason)
        return ok_response(status="not_acted_on", reason=reason)


def _check_enum(arg: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ToolError(f"{arg} must be one of {', '.join(allowed)}; got {value!r}")
